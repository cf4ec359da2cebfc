"""Added latency of each client over a direct ChatOpenAI call, measured the way a user pays it.

* One asyncio stub server (benchmarks/stub_llm.py) in its own process answers every client.
* Each client runs in its own long-lived worker process: a direct ``ChatOpenAI.ainvoke`` (the baseline),
  LangChain's own floor for a chat model that wraps another (a trivial ``BaseChatModel`` subclass around the same
  ChatOpenAI: ``basechatmodel_wrapper`` awaits its ``ainvoke``, a second LangChain run as any wrapper pays;
  ``basechatmodel_wrapper_direct`` awaits its ``_agenerate``, the one run ``RoutedChatModel`` also makes),
  ``RoutedChatModel`` over 3 and over 100 backends, LangGraph's own floor for the subgraph's shape (three nodes,
  routed with ``Command(goto=...)`` as the subgraph is, the middle one making the same ChatOpenAI call; and the
  same with conditional edges, the subgraph's earlier shape), the router subgraph, the ``llm_router`` graph
  as the server
  runs it (analytics handler attached, rows written to SQLite), and LiteLLM's ``Router.acompletion`` with prices
  set (when litellm is installed; ``make bench`` installs it). No client shares a process or an event loop with
  another, so work one leaves on its loop (LiteLLM's post-call logging) is charged to it, not to the next call.
* Rounds are interleaved: in each round every worker in turn makes ``--calls`` sequential calls while the others
  wait. Per round, each client's p50/p99; a figure is the median over rounds, and "added" is the median over
  rounds of (client p50 - baseline p50 of the same round).

* ``--compare-tree DIR`` adds the router clients of another checkout (say, ``main`` in a worktree) as workers of
  the same rounds, printed as ``previous_<label>``: a change measured against what it replaces, in the same
  minutes on the same machine (this script's harness runs that checkout's code).
* Besides latency, each worker reports its own process's CPU time per call; ``_added_cpu`` (client minus
  baseline) is what a client costs whatever else a shared machine runs (it leaves out time spent waiting for a
  core, which latency under load is full of). The load average is printed before and after.

Prints ``name value unit`` lines.

    .venv/bin/python benchmarks/router_overhead.py [--rounds 10] [--calls 200] [--compare-tree DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import operator
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from typing_extensions import TypedDict
from workers import interleaved_rounds, wait_ready  # benchmarks/workers.py (run as scripts: this folder is on the path)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PROMPT = "Summarise the settlement break in one sentence."
CLIENTS = ("chatopenai", "wrapper", "wrapper_direct", "routed_3", "routed_100", "langgraph_floor",
           "langgraph_floor_branches", "subgraph", "llm_router_graph", "litellm")  # fmt: skip
LABELS = {
    "chatopenai": "chatopenai",
    "wrapper": "basechatmodel_wrapper",
    "wrapper_direct": "basechatmodel_wrapper_direct",
    "routed_3": "routed_chat_model_3_backends",
    "routed_100": "routed_chat_model_100_backends",
    "langgraph_floor": "langgraph_three_node_floor",
    "langgraph_floor_branches": "langgraph_three_node_floor_conditional_edges",
    "subgraph": "router_subgraph",
    "llm_router_graph": "llm_router_graph_with_analytics",
    "litellm": "litellm_router_acompletion",
}
COMPARED = ("routed_3", "routed_100", "subgraph", "llm_router_graph")
"""Clients that ``--compare-tree`` also runs from the other checkout."""
PREVIOUS = "previous_"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _setup_tradeflow(base_url: str, backends: int, workdir: Path) -> None:
    """A backend table of ``backends`` entries: the first is the stub, the rest are priced higher and never chosen."""
    rows = [{"name": "stub", "kind": "openai_compatible", "model": "test-model", "base_url": base_url,
             "context_window": 32000, "max_output_tokens": 2048}]  # fmt: skip
    rows += [
        {"name": f"spare-{i:03d}", "kind": "openai_compatible", "model": f"spare-{i}", "base_url": base_url,
         "context_window": 32000, "max_output_tokens": 2048}
        for i in range(backends - 1)
    ]  # fmt: skip
    table = workdir / "table.yaml"
    table.write_text(json.dumps({"default_strategy": "cost", "backends": rows}))
    prices = workdir / "prices.yaml"
    prices.write_text(json.dumps({"version": "bench", "prices": [
        {"pattern": "test-model", "valid_from": "2024-01-01", "input_per_1m": 0.1, "output_per_1m": 0.1},
        {"pattern": "spare-*", "valid_from": "2024-01-01", "input_per_1m": 1.0, "output_per_1m": 1.0},
    ]}))  # fmt: skip
    os.environ.update({"TRADEFLOW_ROUTER_CONFIG": str(table), "TRADEFLOW_PRICES_FILE": str(prices),
                       "TRADEFLOW_DATA_DIR": str(workdir / "data"), "LANGSMITH_TRACING": "false"})  # fmt: skip
    os.environ.pop("DATABASE_URL", None)


def _client(kind: str, base_url: str) -> Callable[[], Awaitable[object]]:
    from langchain_core.messages import HumanMessage

    messages = [HumanMessage(PROMPT)]
    if kind == "chatopenai":
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        direct = ChatOpenAI(model="test-model", api_key=SecretStr("k"), base_url=base_url, max_retries=0)
        return lambda: direct.ainvoke(messages)
    if kind == "litellm":
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        from litellm import Router as LiteLLMRouter

        lite = LiteLLMRouter(
            model_list=[{"model_name": "desk", "litellm_params": {
                "model": "openai/test-model", "api_base": base_url, "api_key": "k",
                "input_cost_per_token": 1e-7, "output_cost_per_token": 1e-7}}],
            num_retries=0,
        )  # fmt: skip
        payload = [{"role": "user", "content": PROMPT}]
        return lambda: lite.acompletion(model="desk", messages=payload)
    if kind in ("wrapper", "wrapper_direct"):
        return _wrapper(base_url, direct=kind == "wrapper_direct")
    if kind in ("langgraph_floor", "langgraph_floor_branches"):
        return _floor(base_url, commands=kind == "langgraph_floor")
    workdir = Path(tempfile.mkdtemp(prefix="tradeflow-bench-"))
    _setup_tradeflow(base_url, 100 if kind == "routed_100" else 3, workdir)
    if kind in ("routed_3", "routed_100"):
        from router.chat_model import RoutedChatModel
        from router.runtime import process_router

        routed = RoutedChatModel(router=process_router(), workflow="bench")
        return lambda: routed.ainvoke(messages)
    if kind == "subgraph":
        from router.subgraph import graph

        return lambda: graph.ainvoke({"prompt": PROMPT})
    from graphs.llm_router import graph as served

    return lambda: served.ainvoke({"prompt": PROMPT})


def _wrapper(base_url: str, *, direct: bool) -> Callable[[], Awaitable[object]]:
    """A chat model that only hands the call to the same ChatOpenAI: what LangChain costs around one model."""
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage, HumanMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    inner = ChatOpenAI(model="test-model", api_key=SecretStr("k"), base_url=base_url, max_retries=0)

    class Wrapper(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "wrapper"

        def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                      **kwargs: Any) -> ChatResult:  # fmt: skip
            raise NotImplementedError

        async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                             **kwargs: Any) -> ChatResult:  # fmt: skip
            if direct:
                return await inner._agenerate(messages, stop=stop, **kwargs)
            message = await inner.ainvoke(messages, config={"callbacks": []}, stop=stop, **kwargs)
            return ChatResult(generations=[ChatGeneration(message=message)])

    wrapper = Wrapper()
    messages = [HumanMessage(PROMPT)]
    return lambda: wrapper.ainvoke(messages)


class _FloorState(TypedDict, total=False):
    prompt: str
    answer: str
    attempts: Annotated[list[dict[str, Any]], operator.add]


def _floor(base_url: str, *, commands: bool) -> Callable[[], Awaitable[object]]:
    """The subgraph's shape with nothing of the router in it: what LangGraph itself costs around the call.

    ``commands``: rank and call route with ``Command(goto=...)`` as the router subgraph does; otherwise with
    conditional edges (the subgraph's earlier shape, which re-reads the state after each of those nodes).
    """
    from langchain_core.messages import HumanMessage
    from langchain_openai import ChatOpenAI
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Command
    from pydantic import SecretStr

    direct = ChatOpenAI(model="test-model", api_key=SecretStr("k"), base_url=base_url, max_retries=0)

    async def rank(state: _FloorState) -> Any:
        return Command(update={"attempts": []}, goto="call_backend") if commands else {"attempts": []}

    async def call(state: _FloorState) -> Any:
        reply = await direct.ainvoke([HumanMessage(state["prompt"])])
        update = {"answer": reply.text, "attempts": [{"backend": "stub"}]}
        return Command(update=update, goto="account") if commands else update

    async def account(state: _FloorState) -> dict[str, Any]:
        return {}

    builder = StateGraph(_FloorState)
    builder.add_node("rank_backends", rank, destinations=("call_backend", "account"))
    builder.add_node("call_backend", call, destinations=("call_backend", "account"))
    builder.add_node("account", account)
    builder.add_edge(START, "rank_backends")
    if not commands:
        builder.add_conditional_edges("rank_backends", lambda s: "call_backend", ["call_backend", "account"])
        builder.add_conditional_edges("call_backend", lambda s: "account", ["call_backend", "account"])
    builder.add_edge("account", END)
    graph = builder.compile()
    return lambda: graph.ainvoke({"prompt": PROMPT})


def _worker(kind: str, base_url: str, tree: Path) -> None:
    """Serve rounds: read a number of calls from stdin, make them, answer with latencies and CPU time per call.

    The CPU time is this process's (what the client itself costs, whoever else the shared machine runs).
    """
    sys.path.insert(0, str(tree))  # the checkout whose code runs (this one, or --compare-tree's)
    runner = asyncio.Runner()  # closed at the end: what the router's clients opened is closed with it
    call = _client(kind, base_url)

    async def run(n: int) -> dict[str, Any]:
        times = []
        cpu = time.process_time()
        for _ in range(n):
            started = time.perf_counter()
            await call()
            times.append(time.perf_counter() - started)
        return {"wall": times, "cpu": (time.process_time() - cpu) / n}

    with runner:
        runner.run(run(50))  # connections, caches, first-use imports
        print("ready", flush=True)
        for line in sys.stdin:
            print(json.dumps(runner.run(run(int(line)))), flush=True)


def _spawn(kind: str, base_url: str, tree: Path) -> subprocess.Popen[str]:
    """A worker running ``tree``'s code (this script's harness, so both checkouts are measured the same way)."""
    command = [sys.executable, __file__, "--worker", kind, "--base-url", base_url, "--tree", str(tree)]
    return subprocess.Popen(command, cwd=tree, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=200, help="calls per client per round")
    parser.add_argument("--worker", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--tree", type=Path, default=REPO, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--compare-tree", type=Path, help="another checkout, run in the same rounds")
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.base_url, args.tree)
        return
    port = _free_port()
    stub = subprocess.Popen([sys.executable, str(REPO / "benchmarks" / "stub_llm.py"), "--port", str(port)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    workers: dict[str, subprocess.Popen[str]] = {}
    try:
        assert stub.stdout is not None
        stub.stdout.readline()
        base_url = f"http://127.0.0.1:{port}/v1"
        kinds = [k for k in CLIENTS if k != "litellm" or importlib.util.find_spec("litellm") is not None]
        if "litellm" not in kinds:
            print("litellm_router_acompletion_added_p50 nan ms  # litellm not installed: make bench installs it")
        print(f"load_average_1m_before {os.getloadavg()[0]:.2f}  # {os.cpu_count()} cores", flush=True)
        for kind in kinds:
            workers[kind] = _spawn(kind, base_url, REPO)
        if args.compare_tree is not None:
            for kind in COMPARED:
                workers[PREVIOUS + kind] = _spawn(kind, base_url, args.compare_tree.resolve())
            kinds += [PREVIOUS + kind for kind in COMPARED]
        wait_ready(workers)
        _report(interleaved_rounds(workers, args.rounds, args.calls), args.calls)
    finally:
        for worker in workers.values():
            if worker.stdin is not None:
                worker.stdin.close()
            worker.wait(timeout=30)
        stub.terminate()
        stub.wait(timeout=10)


def _report(rounds: dict[str, list[dict[str, Any]]], calls: int) -> None:
    base = [r["wall"] for r in rounds["chatopenai"]]
    base_p50 = [_percentile(r, 0.5) for r in base]
    base_p99 = [_percentile(r, 0.99) for r in base]
    base_cpu = [r["cpu"] for r in rounds["chatopenai"]]
    print(f"load_average_1m_after {os.getloadavg()[0]:.2f}")
    print(f"calls_per_client {len(base) * calls} calls  # {len(base)} interleaved rounds of {calls}")
    print(f"chatopenai_p50 {statistics.median(base_p50) * 1000:.3f} ms  # baseline")
    print(f"chatopenai_p99 {statistics.median(base_p99) * 1000:.3f} ms  # baseline")
    print(f"chatopenai_cpu {statistics.median(base_cpu) * 1000:.3f} ms  # baseline: its process's CPU time per call")
    added: dict[str, float] = {}
    for kind, measured in rounds.items():
        if kind == "chatopenai":
            continue
        label = PREVIOUS + LABELS[kind.removeprefix(PREVIOUS)] if kind.startswith(PREVIOUS) else LABELS[kind]
        samples = [r["wall"] for r in measured]
        p50 = [_percentile(r, 0.5) for r in samples]
        p99 = [_percentile(r, 0.99) for r in samples]
        added[kind] = statistics.median(c - b for c, b in zip(p50, base_p50, strict=True)) * 1000
        added_p99 = statistics.median(c - b for c, b in zip(p99, base_p99, strict=True)) * 1000
        added_cpu = statistics.median(r["cpu"] - b for r, b in zip(measured, base_cpu, strict=True)) * 1000
        print(f"{label}_p50 {statistics.median(p50) * 1000:.3f} ms")
        print(f"{label}_p99 {statistics.median(p99) * 1000:.3f} ms")
        print(f"{label}_added_p50 {added[kind]:.3f} ms  # over chatopenai_p50, median of rounds")
        print(f"{label}_added_p99 {added_p99:.3f} ms  # over chatopenai_p99, median of rounds")
        print(f"{label}_added_cpu {added_cpu:.3f} ms  # CPU per call over chatopenai's, median of rounds")
        print(f"{label}_over_chatopenai_p50 {statistics.median(p50) / statistics.median(base_p50):.2f} x")
    if "litellm" in added and added.get("routed_3", 0) > 0:
        print(f"litellm_added_over_routed_chat_model_3_added_p50 {added['litellm'] / added['routed_3']:.1f} x")


if __name__ == "__main__":
    main()
