"""Bounded loopback load: runs/s, p50/p95 latency and server CPU per run, for each server tradeflow runs on.

Servers, in one run: ``langgraph dev`` (embedded runtime, one process), one Aegra replica (its local executor),
two Aegra replicas (Redis mode: one Postgres, one Redis, clients alternate between them). Each with tradeflow's
hooks on (the auth hook checking an API key and validating every run's input, the analytics callback handler on
every run) and off (no ``auth`` in the config, ``TRADEFLOW_SERVER_HOOKS=off``: no analytics handler);
``--split`` adds each hook alone. The
workload is ``heartbeat`` (one node, no model): the cheapest run, so the hooks' share of it is the largest.

Every setting's servers run side by side and the runs alternate between them in rounds, so the machine's other load
falls on each setting alike. Server CPU is user + system time of every process in a setting's process groups
(``/proc``), over its own timed batches only, divided by its runs. Baseline for the ratios: the same server with
the hooks off.

    .venv/bin/python benchmarks/server_load.py [--runs 96] [--rounds 4] [--clients 8] [--servers dev,aegra1,aegra2]
        [--split]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.support.aegra_server import AegraServer, aegra_databases, redis_env, require_aegra
from tests.support.langgraph_server import DevServer

PAYLOAD = {"message": "ping"}
KEY = "bench-key"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    """One server and hooks setting: throughput, latency percentiles, server CPU per run."""

    rate: float
    p50_ms: float
    p95_ms: float
    cpu_ms_per_run: float


def _group_cpu_s(pgids: set[int]) -> float:
    """User + system CPU seconds of every live process in ``pgids`` (children included as they run)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) in pgids:  # fields after "(comm)": state ppid pgrp ... utime(11) stime(12)
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class _Tally:
    """What one setting accumulated over its batches."""

    latencies: list[float]
    elapsed_s: float = 0.0
    cpu_s: float = 0.0

    def result(self) -> Result:
        runs = len(self.latencies)
        return Result(runs / self.elapsed_s, statistics.median(self.latencies) * 1000,
                      _percentile(self.latencies, 0.95) * 1000, self.cpu_s / runs * 1000)  # fmt: skip


async def _batch(sdks: list[LangGraphClient], runs: int, clients: int, pgids: set[int], tally: _Tally) -> None:
    """``runs`` runs from ``clients`` concurrent clients (alternating over ``sdks``), timed and CPU-accounted."""
    queue = iter(range(runs))

    async def client_loop(index: int) -> None:
        sdk = sdks[index % len(sdks)]
        for _ in queue:
            started = time.perf_counter()
            out = await sdk.runs.wait(None, "heartbeat", input=PAYLOAD)
            tally.latencies.append(time.perf_counter() - started)
            if not isinstance(out, dict) or out.get("message") != "ping":
                raise RuntimeError(f"unexpected run output: {out!r}")

    cpu_before, started = _group_cpu_s(pgids), time.perf_counter()
    await asyncio.gather(*(client_loop(i) for i in range(clients)))
    tally.elapsed_s += time.perf_counter() - started
    tally.cpu_s += _group_cpu_s(pgids) - cpu_before


async def _interleaved(setups: dict[str, tuple[list[str], str | None, set[int]]], runs: int, clients: int,
                       rounds: int) -> dict[str, Result]:  # fmt: skip
    """Every setting's servers are up at once; rounds alternate between them so machine load hits all alike."""
    sdks = {name: [get_client(url=url, api_key=key) for url in urls] for name, (urls, key, _) in setups.items()}
    for clients_of in sdks.values():  # warm-up: the first runs import and compile the graph on each server
        for sdk in clients_of:
            for _ in range(3):
                await sdk.runs.wait(None, "heartbeat", input=PAYLOAD)
    tallies = {name: _Tally([]) for name in setups}
    order = list(setups)
    for round_index in range(rounds):
        for name in order if round_index % 2 == 0 else reversed(order):
            await _batch(sdks[name], max(1, runs // rounds), clients, setups[name][2], tallies[name])
    return {name: tally.result() for name, tally in tallies.items()}


# Which of tradeflow's hooks a setting turns on: (auth hook in langgraph.json, analytics handler on graphs).
SETTINGS = {"off": (False, False), "on": (True, True), "auth": (True, False), "analytics": (False, True)}


def _env(workdir: Path, auth: bool, analytics: bool) -> dict[str, str]:
    env = {**os.environ, "TRADEFLOW_DATA_DIR": str(workdir / "data"), "LANGSMITH_TRACING": "false",
           "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "true",
           "TRADEFLOW_GUARDRAIL_INTERVAL_S": "0", "TRADEFLOW_LOG_LEVEL": "warning", "LOG_LEVEL": "WARNING"}  # fmt: skip
    env.pop("DATABASE_URL", None)
    env.pop("TRADEFLOW_DATABASE_URL", None)
    env.pop("TRADEFLOW_API_KEY", None)
    if auth:
        env["TRADEFLOW_API_KEY"] = KEY
    if not analytics:
        env["TRADEFLOW_SERVER_HOOKS"] = "off"
    return env


@contextmanager
def _servers(kind: str, setting: str, root: Path) -> Iterator[list[DevServer | AegraServer]]:
    workdir = Path(tempfile.mkdtemp(dir=root, prefix=f"{kind}-{setting}-"))
    hooks, analytics = SETTINGS[setting]
    env = _env(workdir, hooks, analytics)
    started: list[DevServer | AegraServer] = []
    with ExitStack() as stack:
        try:
            if kind == "dev":
                started.append(DevServer(workdir, env, auth=hooks).start())
            else:
                dbs = stack.enter_context(aegra_databases())
                env = {**env, "DATABASE_URL": dbs.server, "TRADEFLOW_DATABASE_URL": dbs.tradeflow, "NO_COLOR": "1"}
                if kind == "aegra2":
                    env.update(redis_env(f"tradeflow-bench-{uuid.uuid4().hex[:8]}"))
                for name in ("a", "b")[: 2 if kind == "aegra2" else 1]:
                    started.append(AegraServer(workdir, env, name=f"replica-{name}", auth=hooks).start())
            yield started
        finally:
            for server in started:
                server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=96, help="timed runs per server and hooks setting (default 96)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds the runs are split into (default 4)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent SDK clients (default 8)")
    parser.add_argument("--servers", default="dev,aegra1,aegra2", help="which servers (default: all three)")
    parser.add_argument("--split", action="store_true", help="also each hook alone (auth; analytics)")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    if any(k.startswith("aegra") for k in kinds):
        require_aegra()
    print(f"# heartbeat runs: {args.runs} per setting in {args.rounds} alternating rounds, {args.clients} clients; "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="server-load-") as root:
        for kind in kinds:
            settings = ("off", "on", *(("auth", "analytics") if args.split else ()))
            with ExitStack() as stack:
                setups = {}
                for setting in settings:
                    servers = stack.enter_context(_servers(kind, setting, Path(root)))
                    pgids = {os.getpgid(s.process.pid) for s in servers if s.process is not None}
                    setups[setting] = ([s.url for s in servers], KEY if SETTINGS[setting][0] else None, pgids)
                results = asyncio.run(_interleaved(setups, args.runs, args.clients, args.rounds))
            for setting, result in results.items():
                name = f"{kind}_hooks_{setting}"
                print(f"{name}_throughput {result.rate:.2f} runs/s")
                print(f"{name}_p50 {result.p50_ms:.1f} ms")
                print(f"{name}_p95 {result.p95_ms:.1f} ms")
                print(f"{name}_server_cpu_per_run {result.cpu_ms_per_run:.2f} ms")
            for setting in [s for s in results if s != "off"]:
                ratio = results[setting].cpu_ms_per_run / results["off"].cpu_ms_per_run
                goal = " (goal <= 1.05)" if setting == "on" else ""
                print(f"{kind}_cpu_per_run_hooks_{setting}_over_off {ratio:.3f} x{goal}", flush=True)


if __name__ == "__main__":
    main()
