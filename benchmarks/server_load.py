"""Bounded loopback load: runs/s, p50/p95 latency and server CPU per run, for each server tradeflow runs on.

Servers, in one run: ``langgraph dev`` (embedded runtime, one process), one Aegra replica (its local executor),
two Aegra replicas (Redis mode: one Postgres, one Redis, clients alternate between them). Each with tradeflow's
hooks on (the auth hook checking an API key and validating every run's input, the analytics callback handler on
every run) and off (no ``auth`` in the config, ``TRADEFLOW_SERVER_HOOKS=off``: no analytics handler). The
workload is ``heartbeat`` (one node, no model): the cheapest run, so the hooks' share of it is the largest.

Server CPU is user + system time of every process in the servers' process groups (``/proc``), over the timed
window only, divided by the runs completed. Baseline for the ratios: the same server with the hooks off.

    .venv/bin/python benchmarks/server_load.py [--runs 120] [--clients 8] [--servers dev,aegra1,aegra2]
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


async def _load(urls: list[str], api_key: str | None, runs: int, clients: int, pgids: set[int]) -> Result:
    sdks = [get_client(url=url, api_key=api_key) for url in urls]
    for sdk in sdks:  # warm-up: the first runs import and compile the graph on each server
        for _ in range(3):
            await sdk.runs.wait(None, "heartbeat", input=PAYLOAD)
    latencies: list[float] = []
    queue = iter(range(runs))

    async def client_loop(index: int) -> None:
        sdk = sdks[index % len(sdks)]
        for _ in queue:
            started = time.perf_counter()
            out = await sdk.runs.wait(None, "heartbeat", input=PAYLOAD)
            latencies.append(time.perf_counter() - started)
            if not isinstance(out, dict) or out.get("message") != "ping":
                raise RuntimeError(f"unexpected run output: {out!r}")

    cpu_before, started = _group_cpu_s(pgids), time.perf_counter()
    await asyncio.gather(*(client_loop(i) for i in range(clients)))
    elapsed, cpu = time.perf_counter() - started, _group_cpu_s(pgids) - cpu_before
    return Result(len(latencies) / elapsed, statistics.median(latencies) * 1000,
                  _percentile(latencies, 0.95) * 1000, cpu / len(latencies) * 1000)  # fmt: skip


def _env(workdir: Path, hooks: bool) -> dict[str, str]:
    env = {**os.environ, "TRADEFLOW_DATA_DIR": str(workdir / "data"), "LANGSMITH_TRACING": "false",
           "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "true",
           "TRADEFLOW_GUARDRAIL_INTERVAL_S": "0", "TRADEFLOW_LOG_LEVEL": "warning", "LOG_LEVEL": "WARNING"}  # fmt: skip
    env.pop("DATABASE_URL", None)
    env.pop("TRADEFLOW_DATABASE_URL", None)
    if hooks:
        env["TRADEFLOW_API_KEY"] = KEY
    else:
        env["TRADEFLOW_SERVER_HOOKS"] = "off"
        env.pop("TRADEFLOW_API_KEY", None)
    return env


@contextmanager
def _servers(kind: str, hooks: bool, root: Path) -> Iterator[list[DevServer | AegraServer]]:
    workdir = Path(tempfile.mkdtemp(dir=root, prefix=f"{kind}-{'on' if hooks else 'off'}-"))
    env = _env(workdir, hooks)
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
    parser.add_argument("--runs", type=int, default=120, help="timed runs per server and hooks setting (default 120)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent SDK clients (default 8)")
    parser.add_argument("--servers", default="dev,aegra1,aegra2", help="which servers (default: all three)")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    if any(k.startswith("aegra") for k in kinds):
        require_aegra()
    print(f"# heartbeat runs: {args.runs} per setting, {args.clients} clients; {os.cpu_count()} CPUs (shared)")
    with tempfile.TemporaryDirectory(prefix="server-load-") as root:
        for kind in kinds:
            results: dict[bool, Result] = {}
            for hooks in (False, True):
                with _servers(kind, hooks, Path(root)) as servers:
                    pgids = {os.getpgid(s.process.pid) for s in servers if s.process is not None}
                    result = asyncio.run(_load([s.url for s in servers], KEY if hooks else None, args.runs,
                                               args.clients, pgids))  # fmt: skip
                results[hooks] = result
                name = f"{kind}_hooks_{'on' if hooks else 'off'}"
                print(f"{name}_throughput {result.rate:.2f} runs/s")
                print(f"{name}_p50 {result.p50_ms:.1f} ms")
                print(f"{name}_p95 {result.p95_ms:.1f} ms")
                print(f"{name}_server_cpu_per_run {result.cpu_ms_per_run:.2f} ms")
            ratio = results[True].cpu_ms_per_run / results[False].cpu_ms_per_run
            print(f"{kind}_cpu_per_run_hooks_on_over_off {ratio:.3f} x (goal <= 1.05)", flush=True)


if __name__ == "__main__":
    main()
