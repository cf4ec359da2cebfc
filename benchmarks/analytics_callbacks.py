"""Callback overhead per node: a 10-node graph run with the analytics handler vs the same run without it.

Baseline: the identical graph invoked with the same config minus the handler (the metadata stays: served and
CLI runs always carry graph_id), interleaved run by run in the same process; a no-op
handler is measured too, to separate LangChain's own callback dispatch from the analytics handler's work.
The handler is the real one, wired as analytics.runtime wires it: it feeds the real writer, whose thread drains
the handler's node runs and writes the rows (to SQLite in a temp dir, or Postgres with --store postgres).
Prints ``name value unit`` lines.

    .venv/bin/python benchmarks/analytics_callbacks.py [--runs 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langchain_core.callbacks import BaseCallbackHandler
from langgraph.graph import END, START, StateGraph
from prometheus_client import CollectorRegistry
from typing_extensions import TypedDict

from analytics.callbacks import AnalyticsHandler
from analytics.metrics import Metrics
from analytics.sqlite_store import SqliteStore
from analytics.store import PostgresStore, Store
from analytics.writer import RowWriter
from core.prices import PriceTable
from tests.support.postgres import scratch_database

NODES = 10


class State(TypedDict):
    """A counter each node bumps."""

    count: int


def _graph() -> Any:
    builder = StateGraph(State)

    async def bump(state: State) -> dict[str, int]:
        return {"count": state["count"] + 1}

    previous = START
    for i in range(NODES):
        builder.add_node(f"n{i}", bump)
        builder.add_edge(previous, f"n{i}")
        previous = f"n{i}"
    builder.add_edge(previous, END)
    return builder.compile()


class NoopHandler(BaseCallbackHandler):
    """A handler that does nothing: what LangChain's callback dispatch alone costs."""

    run_inline = True


async def _bench(runs: int, handler: AnalyticsHandler) -> dict[str, list[float]]:
    graph = _graph()
    configs: dict[str, Any] = {
        "plain": {"metadata": {"graph_id": "bench"}},
        "noop": {"callbacks": [NoopHandler()], "metadata": {"graph_id": "bench"}},
        "analytics": {"callbacks": [handler], "metadata": {"graph_id": "bench"}},
    }
    times: dict[str, list[float]] = {name: [] for name in configs}
    for i in range(runs + 200):
        for name, config in configs.items():
            started = time.perf_counter()
            await graph.ainvoke({"count": 0}, config)
            if i >= 200:  # warm-up
                times[name].append(time.perf_counter() - started)
    return times


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        metrics = Metrics(CollectorRegistry())
        store: Store
        if args.store == "postgres":
            store = PostgresStore(stack.enter_context(scratch_database("tradeflow_bench_callbacks")))
        else:
            store = SqliteStore(Path(tmp) / "a.sqlite")
        writer = RowWriter(lambda: store, metrics, spill_dir=Path(tmp) / "spill")
        handler = AnalyticsHandler(metrics, writer.enqueue, PriceTable.load())
        writer.add_source(handler.drain)  # as analytics.runtime wires it: node runs recorded on the writer's thread
        times = asyncio.run(_bench(args.runs, handler))
        writer.flush()
        written = store.fetch("SELECT count(*) FROM node_runs", {})[0][0]
        writer.close()  # closes the store too
    print(f"store {args.store}")
    print(f"node_rows_written {written} rows")
    plain = times["plain"]
    print(f"graph_{NODES}_nodes_without_handler_p50 {_pct(plain, 0.5) * 1e3:.3f} ms")
    for name in ("noop", "analytics"):
        for q, label in ((0.5, "p50"), (0.99, "p99")):
            added = (_pct(times[name], q) - _pct(plain, q)) / NODES * 1e6
            print(f"{name}_handler_overhead_per_node_{label} {added:.1f} us")
        print(
            f"{name}_handler_overhead_per_node_mean "
            f"{(statistics.mean(times[name]) - statistics.mean(plain)) / NODES * 1e6:.1f} us"
        )
    own = (_pct(times["analytics"], 0.5) - _pct(times["noop"], 0.5)) / NODES * 1e6
    print(f"analytics_over_noop_handler_per_node_p50 {own:.1f} us")
    print(f"analytics_over_plain_p50 {_pct(times['analytics'], 0.5) / _pct(plain, 0.5):.3f} x")


if __name__ == "__main__":
    main()
