"""What ``versioned_workflow`` adds to a run: resolve -> run (the compiled spec as a subgraph, the end stamped).

Target (issue 10): overhead over running the same compiled graph directly <= 2 ms p50.
Baseline: the very same compiled spec (the resolver's cached object) invoked directly with the same input.
Two LangGraph floors are timed beside it, with no tradeflow code in them: ``langgraph_resolve_then_subgraph``
is the shape itself (a checkpointed no-op node, then a node that runs the same compiled spec as a nested
graph: the least a resolve-then-run-as-subgraph graph costs), and three checkpointed no-op nodes (for scale).
Each variant runs in its own process; rounds are interleaved (one round of each in turn, the order rotated),
and each figure is the median of the rounds' medians. The workflow is the market brief's figures step alone
(a tool step, no model call), so model latency does not drown the overhead; every variant checkpoints to an
in-memory saver, one thread per run, as a served run checkpoints. The load average is printed before and after,
and each worker's CPU time per run beside the latencies (what it costs whatever else a shared machine runs).

``--compare-tree DIR`` also runs ``versioned_workflow`` from another checkout (say, ``main`` in a worktree) in
the same rounds, printed as ``previous_*``: a change measured against what it replaces, in the same minutes.

``--store postgres`` keeps labels and experiments in the local Postgres (a scratch database), as a production
deployment does: there a cached resolution reads no database (the change token is a counter in memory), so the
``resolve`` node needs no worker thread; on SQLite it reads ``PRAGMA data_version`` in one.

    .venv/bin/python benchmarks/versioning_overhead.py [--rounds 15] [--runs 200] [--compare-tree DIR]
        [--store sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from workers import interleaved_rounds, wait_ready  # benchmarks/workers.py (run as scripts: this folder is on the path)

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("direct", "versioned", "floor_shape", "floor_three")
PREVIOUS = "previous_"

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
    """LangGraph's own price for three checkpointed no-op supersteps (for scale)."""
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


def _resolve_then_subgraph(graph: Any) -> Any:
    """LangGraph's own price for the shape: a no-op node, then a node running ``graph`` nested (no tradeflow code)."""
    from langchain_core.runnables import RunnableConfig
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    class State(TypedDict, total=False):
        input: dict[str, Any]
        version: int
        output: dict[str, Any]

    async def resolve(state: State) -> dict[str, Any]:
        return {"version": 1}

    async def run(state: State, config: RunnableConfig) -> dict[str, Any]:
        return {"output": await graph.ainvoke(state["input"], config)}

    builder = StateGraph(State)
    builder.add_node("resolve", resolve)
    builder.add_node("run", run)
    builder.add_edge(START, "resolve")
    builder.add_edge("resolve", "run")
    builder.add_edge("run", END)
    return builder


def _env(root: str, url: str | None) -> dict[str, str]:
    env = {"TRADEFLOW_DATA_DIR": f"{root}/data", "TRADEFLOW_WORKFLOWS_REPO": f"{root}/w.git"}
    return env | ({"DATABASE_URL": url} if url else {})


def _worker(variant: str, root: str, tree: Path, url: str | None) -> None:
    """Serve rounds: read a number of runs from stdin, make them, answer with their median and CPU time per run."""
    sys.path.insert(0, str(tree))  # the checkout whose code runs (this one, or --compare-tree's)
    from langgraph.checkpoint.memory import InMemorySaver

    from core.settings import settings_from_mapping
    from graphs.versioning_service import VersioningService
    from versioning.subgraph import versioned_builder

    svc = VersioningService(settings_from_mapping(_env(root, url)))
    if url:
        svc.resolver.db.change_token()  # start the LISTEN thread (what a served process has done long before)
        assert svc.db.wait_listening()
    payload = json.loads((REPO / "examples" / "market_brief.json").read_text())
    compiled = svc.resolver.compiled("bench_figures", 1)
    saver = InMemorySaver()
    graph: Any
    if variant == "direct":
        graph, run_input = compiled.graph.copy(update={"checkpointer": saver}), payload
    elif variant == "floor_three":
        graph, run_input = _three_noop_nodes().compile(checkpointer=saver), {"n": 0}
    elif variant == "floor_shape":
        graph, run_input = _resolve_then_subgraph(compiled.graph).compile(checkpointer=saver), {"input": payload}
    else:
        graph = versioned_builder(lambda: svc.resolver).compile(checkpointer=saver)
        run_input = {"workflow": "bench_figures", "input": payload}

    async def one() -> float:
        config = {"configurable": {"thread_id": str(uuid.uuid4())}}
        started = time.perf_counter()
        await graph.ainvoke(run_input, config)
        return time.perf_counter() - started

    with asyncio.Runner() as runner:  # closed at the end, with whatever the run opened
        for _ in range(20):
            runner.run(one())  # warm caches and code paths
        print("ready", flush=True)
        for line in sys.stdin:
            cpu = time.process_time()
            samples = [runner.run(one()) for _ in range(int(line))]
            cpu_per_run = (time.process_time() - cpu) / len(samples)
            print(json.dumps({"p50": statistics.median(samples), "cpu": cpu_per_run}), flush=True)


def _spawn(name: str, root: str, tree: Path, url: str | None) -> subprocess.Popen[str]:
    command = [sys.executable, __file__, "--worker", name.removeprefix(PREVIOUS), "--root", root, "--tree", str(tree)]
    command += ["--database-url", url] if url else []
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tree)


def _publish(root: str, url: str | None) -> None:
    from core.settings import settings_from_mapping
    from graphs.versioning_service import VersioningService

    svc = VersioningService(settings_from_mapping(_env(root, url)))
    svc.publish(text=SPEC, message="bench", author="bench")
    svc.labels.move("bench_figures", "production", 1, actor="bench")
    svc.db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--compare-tree", type=Path, help="another checkout whose versioned_workflow runs too")
    parser.add_argument(
        "--store",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the versioning database (labels, experiments); runs checkpoint in memory either way",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--tree", type=Path, default=REPO, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.root, args.tree, args.database_url)
        return
    print(f"load_average_1m_before {os.getloadavg()[0]:.2f}  # {os.cpu_count()} cores", flush=True)
    sys.path.insert(0, str(REPO))
    from tests.support.postgres import scratch_database_for

    print(f"store {args.store}")
    with tempfile.TemporaryDirectory() as root, scratch_database_for(args.store, "tradeflow_bench_overhead") as url:
        _publish(root, url)
        plan = {variant: REPO for variant in VARIANTS}
        if args.compare_tree is not None:
            plan[PREVIOUS + "versioned"] = args.compare_tree.resolve()
        workers = {name: _spawn(name, root, tree, url) for name, tree in plan.items()}
        try:
            wait_ready(workers)
            medians = interleaved_rounds(workers, args.rounds, args.runs)
        finally:
            for worker in workers.values():
                if worker.stdin is not None:
                    worker.stdin.close()
                worker.wait(timeout=30)
    _report(medians)


def _report(medians: dict[str, list[dict[str, float]]]) -> None:
    p50 = {name: statistics.median(r["p50"] for r in rounds) * 1e3 for name, rounds in medians.items()}
    cpu = {name: statistics.median(r["cpu"] for r in rounds) * 1e3 for name, rounds in medians.items()}
    direct = p50["direct"]
    print(f"load_average_1m_after {os.getloadavg()[0]:.2f}")
    print(f"baseline_compiled_spec_direct_p50 {direct:.2f} ms")
    print(f"versioned_workflow_p50 {p50['versioned']:.2f} ms")
    print(f"versioned_workflow_overhead_p50 {p50['versioned'] - direct:.2f} ms  # target <= 2 ms")
    print(f"versioned_over_direct {p50['versioned'] / direct:.2f} x")
    if PREVIOUS + "versioned" in p50:
        previous = p50[PREVIOUS + "versioned"]
        print(f"previous_versioned_workflow_p50 {previous:.2f} ms  # --compare-tree, same rounds")
        print(f"previous_versioned_workflow_overhead_p50 {previous - direct:.2f} ms")
    shape = p50["floor_shape"]
    print(f"langgraph_resolve_then_subgraph_p50 {shape:.2f} ms  # no-op node + the same graph nested")
    print(f"langgraph_resolve_then_subgraph_overhead_p50 {shape - direct:.2f} ms  # LangGraph's floor for the shape")
    print(f"langgraph_three_noop_checkpointed_nodes_p50 {p50['floor_three']:.2f} ms")
    # CPU time per run of each worker process: what each costs whoever else the shared machine runs.
    print(f"baseline_compiled_spec_direct_cpu {cpu['direct']:.2f} ms  # CPU time per run")
    for name, label in (("versioned", "versioned_workflow"), (PREVIOUS + "versioned", "previous_versioned_workflow"),
                        ("floor_shape", "langgraph_resolve_then_subgraph")):  # fmt: skip
        if name in cpu:
            print(f"{label}_overhead_cpu {cpu[name] - cpu['direct']:.2f} ms  # CPU per run over the direct run's")


if __name__ == "__main__":
    main()
