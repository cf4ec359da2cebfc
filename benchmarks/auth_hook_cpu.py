"""CPU time of tradeflow's auth hook for one run, in one process: ``authenticate`` plus the ``create_run`` handler.

What the hook adds to every run a server takes (key check, role check, the run's input validated against its
graph), without the server around it, so the figure is not lost in the server's own run-to-run spread
(``server_load.py``). Baseline: the ``heartbeat`` graph's own run in the same process (``ainvoke``, no
checkpointer), the cheapest run there is.

    .venv/bin/python benchmarks/auth_hook_cpu.py [--calls 5000] [--rounds 5]
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TRADEFLOW_DATA_DIR", tempfile.mkdtemp(prefix="tradeflow-bench-"))
os.environ["TRADEFLOW_API_KEY"] = "bench-key"

from graphs import api_auth
from graphs.heartbeat.graph import builder

HEADERS = {b"x-api-key": b"bench-key"}
RUN = {"thread_id": None, "assistant_id": "heartbeat", "kwargs": {"input": {"message": "ping"}}}


class _Ctx:
    """The fields of langgraph-sdk's ``AuthContext`` the handlers read."""

    def __init__(self, user: Any) -> None:
        self.user, self.resource, self.action, self.permissions = user, "threads", "create_run", []


async def _hook() -> None:
    user = await api_auth.authenticate(headers=HEADERS)
    await api_auth.create_run(_Ctx(user), dict(RUN))  # type: ignore[arg-type]


async def _cpu_us(call: Callable[[], Awaitable[object]], calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        await call()
    return (time.process_time() - started) / calls * 1e6


async def main(calls: int, rounds: int) -> None:
    graph = builder.compile()
    run = lambda: graph.ainvoke({"message": "ping"})  # noqa: E731
    await _cpu_us(_hook, calls // 10)
    await _cpu_us(run, calls // 10)
    hook, base = [], []
    for _ in range(rounds):  # interleaved
        hook.append(await _cpu_us(_hook, calls))
        base.append(await _cpu_us(run, calls))
    hook_us, base_us = statistics.median(hook), statistics.median(base)
    print(f"auth_hook_cpu_per_run {hook_us:.1f} us")
    print(f"heartbeat_graph_run_cpu {base_us:.1f} us  # baseline")
    print(f"auth_hook_over_heartbeat_graph_run {hook_us / base_us:.3f} x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds))
