"""Throughput and latency of a trivial graph: through the LangGraph server vs invoked in-process.

Baseline: the same graph (``heartbeat``, one node, no model) invoked in-process with ``graph.ainvoke``,
measured side by side in the same run. Prints one figure per line: ``name value unit``.

    .venv/bin/python benchmarks/server_throughput.py [--runs 40] [--clients 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langgraph_sdk import get_client

from graphs.heartbeat import graph
from tests.support.langgraph_server import DevServer

PAYLOAD = {"message": "ping"}


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def _measure(
    call: Callable[[], Awaitable[object]], clients: int, runs_per_client: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []

    async def client_loop() -> None:
        for _ in range(runs_per_client):
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies


def _report(name: str, rate: float, latencies: list[float]) -> None:
    print(f"{name}_throughput {rate:.2f} runs/s")
    print(f"{name}_p50 {statistics.median(latencies) * 1000:.2f} ms")
    print(f"{name}_p95 {_percentile(latencies, 0.95) * 1000:.2f} ms")


async def _bench(url: str, runs: int, clients: int) -> None:
    sdk = get_client(url=url)

    async def via_server() -> object:
        return await sdk.runs.wait(None, "heartbeat", input=PAYLOAD)

    async def in_process() -> object:
        return await graph.ainvoke(PAYLOAD)

    await via_server()  # warm-up: first run imports and compiles on the server
    await in_process()
    results = {}
    for concurrency in (1, clients):
        per_client = max(1, runs // concurrency) if concurrency == 1 else max(1, runs // 4)
        for name, call in (("server", via_server), ("inprocess", in_process)):
            rate, latencies = await _measure(call, concurrency, per_client)
            results[(name, concurrency)] = rate
            _report(f"{name}_c{concurrency}", rate, latencies)
        ratio = results[("inprocess", concurrency)] / results[("server", concurrency)]
        print(f"inprocess_over_server_c{concurrency} {ratio:.1f} x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="sequential runs at concurrency 1 (default 40)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent SDK clients (default 16)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        env = {**os.environ, "TRADEFLOW_DATA_DIR": str(Path(workdir) / "data"), "LANGSMITH_TRACING": "false"}
        env.pop("DATABASE_URL", None)
        server = DevServer(Path(workdir), env).start()
        try:
            asyncio.run(_bench(server.url, args.runs, args.clients))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
