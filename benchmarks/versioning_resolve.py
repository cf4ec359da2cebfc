"""Version resolution from the cache, and the A/B assignment hash.

Targets (issue 10): resolution from cache <= 50 us; assignment hash <= 5 us.
Baselines, measured in the same run:
* resolution: the same resolution with cold caches (the label read from the database, the commit from Git),
  which is what every run would pay without the cache;
* assignment: SHA-256 of the same salted key alone (the floor of any salted cryptographic hash).
Each figure is the median of interleaved rounds of per-call medians. The cache check on SQLite is one
``PRAGMA data_version`` per call; on Postgres (``--store postgres``) it reads the epoch the LISTEN thread keeps.

    .venv/bin/python benchmarks/versioning_resolve.py [--rounds 15] [--calls 2000] [--store sqlite|postgres]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.settings import settings_from_mapping
from graphs.versioning_service import VersioningService
from graphs.workflows import spec_file
from tests.support.postgres import scratch_database_for
from versioning.assignment import bucket


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    samples = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - started)
    return statistics.median(samples) / 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, scratch_database_for(args.store, "tradeflow_bench_resolve") as url:
        env = {"TRADEFLOW_DATA_DIR": str(Path(tmp) / "data"), "TRADEFLOW_WORKFLOWS_REPO": str(Path(tmp) / "w.git")}
        svc = VersioningService(settings_from_mapping(env | ({"DATABASE_URL": url} if url else {})))
        for n in (1, 2):
            svc.publish(text=spec_file("market_brief").read_text() + f"# {n}\n", message=str(n), author="bench")
        svc.labels.move("market_brief", "production", 1, actor="bench")
        arms = [{"name": "control", "version": 1, "weight": 0.5}, {"name": "treatment", "version": 2, "weight": 0.5}]
        svc.experiments.start("market_brief", arms, actor="bench", name="bench-ab", label="champion")
        svc.labels.move("market_brief", "champion", 1, actor="bench")
        assert svc.db.wait_listening()
        resolver = svc.resolver

        def cached_label() -> object:
            return resolver.resolve("market_brief", label="production")

        def cached_arm() -> object:
            return resolver.resolve("market_brief", label="champion", unit_key="desk-7")

        def cold() -> object:
            resolver.forget()  # what a label move does to the cache: the next call reads again
            resolver._shas.clear()
            return resolver.resolve("market_brief", label="production")

        def assign() -> int:
            return bucket("bench-ab", "BRK-2026-11-24-0042")

        def sha_only() -> bytes:
            return hashlib.sha256(b"bench-ab\x1fBRK-2026-11-24-0042").digest()

        cached_label(), cached_arm()
        rounds: dict[str, list[float]] = {"label": [], "arm": [], "cold": [], "hash": [], "sha": []}
        for _ in range(args.rounds):
            rounds["label"].append(per_call_us(cached_label, args.calls))
            rounds["arm"].append(per_call_us(cached_arm, args.calls))
            rounds["cold"].append(per_call_us(cold, max(20, args.calls // 50)))
            rounds["hash"].append(per_call_us(assign, args.calls * 5))
            rounds["sha"].append(per_call_us(sha_only, args.calls * 5))
        fig = {name: statistics.median(values) for name, values in rounds.items()}
        print(f"store {args.store}")
        print(f"versioning_resolve_label_cached_p50 {fig['label']:.1f} us")
        print(f"versioning_resolve_experiment_arm_cached_p50 {fig['arm']:.1f} us")
        print(f"baseline_resolve_uncached_p50 {fig['cold']:.1f} us")
        print(f"uncached_over_cached {fig['cold'] / fig['label']:.0f} x")
        print(f"versioning_assignment_hash_p50 {fig['hash']:.2f} us")
        print(f"baseline_sha256_alone_p50 {fig['sha']:.2f} us")
        print(f"hash_over_sha256 {fig['hash'] / fig['sha']:.2f} x")
        svc.db.close()


if __name__ == "__main__":
    main()
