"""What ``versioned_workflow`` adds to a run: resolve -> run (the compiled spec as a subgraph) -> record.

Target (issue 10): overhead over running the same compiled graph directly <= 2 ms p50.
Baseline: the very same compiled spec (the resolver's cached object) invoked directly with the same input.
For scale, a third process times LangGraph's own price for three checkpointed no-op supersteps (the least
that three extra nodes cost on the machine). Each variant runs in its own process; rounds are interleaved (one
round of each in turn), and each figure is the median of the rounds' medians. The workflow is the market brief's
figures step alone (a tool step, no model call), so model latency does not drown the overhead; every variant
checkpoints to an in-memory saver, one thread per run, as a served run checkpoints.

    .venv/bin/python benchmarks/versioning_overhead.py [--rounds 15] [--runs 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SPEC = """\
id: bench_figures
description: The market brief's figures step alone (overhead benchmark)
input: market_brief.input
context: market_brief.context
state:
  figures: {type: object}
output: [figures]
steps:
  - id: compute_market_figures
    type: tool
    tool: market_brief.compute_figures
"""


def _three_noop_nodes() -> Any:
    """LangGraph's own price for three checkpointed supersteps (what resolve -> run -> record adds at least)."""
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    class State(TypedDict):
        n: int

    async def bump(state: State) -> dict[str, int]:
        return {"n": state["n"] + 1}

    builder = StateGraph(State)
    for name in ("a", "b", "c"):
        builder.add_node(name, bump)
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", "c")
    builder.add_edge("c", END)
    return builder


def worker(variant: str, root: str, conn: Connection) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    from core.settings import settings_from_mapping
    from graphs.versioning_service import VersioningService
    from versioning.subgraph import versioned_builder

    env = {"TRADEFLOW_DATA_DIR": f"{root}/data", "TRADEFLOW_WORKFLOWS_REPO": f"{root}/w.git"}
    svc = VersioningService(settings_from_mapping(env))
    payload = json.loads((Path(__file__).resolve().parents[1] / "examples" / "market_brief.json").read_text())
    compiled = svc.resolver.compiled("bench_figures", 1)
    saver = InMemorySaver()
    if variant == "direct":
        graph: Any = compiled.graph.copy(update={"checkpointer": saver})
        run_input: Any = payload
    elif variant == "floor":
        graph, run_input = _three_noop_nodes().compile(checkpointer=saver), {"n": 0}
    else:
        graph = versioned_builder(lambda: svc.resolver).compile(checkpointer=saver)
        run_input = {"workflow": "bench_figures", "input": payload}

    async def one() -> float:
        config = {"configurable": {"thread_id": str(uuid.uuid4())}}
        started = time.perf_counter()
        await graph.ainvoke(run_input, config)
        return time.perf_counter() - started

    async def rounds() -> None:
        for _ in range(20):
            await one()  # warm caches and code paths
        conn.send("ready")
        while (runs := conn.recv()) is not None:
            samples = [await one() for _ in range(runs)]
            conn.send(statistics.median(samples))

    asyncio.run(rounds())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    from core.settings import settings_from_mapping
    from graphs.versioning_service import VersioningService

    with tempfile.TemporaryDirectory() as root:
        env = {"TRADEFLOW_DATA_DIR": f"{root}/data", "TRADEFLOW_WORKFLOWS_REPO": f"{root}/w.git"}
        svc = VersioningService(settings_from_mapping(env))
        svc.publish(text=SPEC, message="bench", author="bench")
        svc.labels.move("bench_figures", "production", 1, actor="bench")
        svc.db.close()
        spawn = multiprocessing.get_context("spawn")
        workers = {}
        for variant in ("direct", "versioned", "floor"):
            parent, child = spawn.Pipe()
            process = spawn.Process(target=worker, args=(variant, root, child), daemon=True)
            process.start()
            workers[variant] = (process, parent)
        for _, parent in workers.values():
            assert parent.recv() == "ready"
        medians: dict[str, list[float]] = {"direct": [], "versioned": [], "floor": []}
        for _ in range(args.rounds):
            for variant, (_, parent) in workers.items():
                parent.send(args.runs)
                medians[variant].append(parent.recv())
        for process, parent in workers.values():
            parent.send(None)
            process.join(timeout=30)
    direct = statistics.median(medians["direct"]) * 1e3
    versioned = statistics.median(medians["versioned"]) * 1e3
    print(f"baseline_compiled_spec_direct_p50 {direct:.2f} ms")
    print(f"versioned_workflow_p50 {versioned:.2f} ms")
    print(f"versioned_workflow_overhead_p50 {versioned - direct:.2f} ms")
    print(f"versioned_over_direct {versioned / direct:.2f} x")
    print(f"langgraph_three_noop_checkpointed_nodes_p50 {statistics.median(medians['floor']) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
