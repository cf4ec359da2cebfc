"""What a routed call costs on the CPU, without HTTP: ``RoutedChatModel.ainvoke`` over an instant in-process client.

``router_overhead.py`` measures against a stub server over HTTP, where a client's latency also counts the
network stack and waiting for a core; on a shared machine that moves by a millisecond between rounds. Here every
backend's client is a fake ``BaseChatModel`` that answers at once (no I/O), so what is left is CPU:

* ``wrapper``: a trivial ``BaseChatModel`` whose ``_agenerate`` awaits the fake's (LangChain's own run: the floor);
* ``routed``: ``RoutedChatModel.ainvoke`` (LangChain's run, then the router, then the fake's ``_agenerate``);
* ``execute``: ``Router.execute`` alone (planning, attempt, accounting, record), the fake's call included;
* ``fake``: the fake's ``_agenerate`` alone.

Rounds are interleaved in one process and one event loop; a figure is the median over rounds of each round's
p50, ``*_over_wrapper`` the median over rounds of (routed p50 - wrapper p50). ``--tree DIR`` imports the router
from another checkout (say ``main`` in a worktree), to compare a change with what it replaces.

    .venv/bin/python benchmarks/router_call_cpu.py [--backends 3] [--rounds 20] [--calls 300] [--tree DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args()
    tree = args.tree.resolve()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from router_overhead import PROMPT, _setup_tradeflow  # this checkout's table and settings (imports no router)

    sys.path.insert(0, str(tree))  # ahead of the checkout router_overhead put first: the router under test
    _setup_tradeflow("http://127.0.0.1:9/v1", args.backends, Path(tempfile.mkdtemp(prefix="tradeflow-cpu-")))
    asyncio.run(_run(args.backends, args.rounds, args.calls, PROMPT))


async def _run(backends: int, rounds: int, calls: int, prompt: str) -> None:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    from router.chat_model import RoutedChatModel
    from router.runtime import process_router

    print(f"# router from {Path(sys.modules['router'].__file__ or '').parent.parent}")

    class Instant(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "instant"

        def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                      **kwargs: Any) -> ChatResult:  # fmt: skip
            raise NotImplementedError

        async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                             **kwargs: Any) -> ChatResult:  # fmt: skip
            message = AIMessage(
                content="The settlement break is a timing difference; it clears on the next cycle.",
                response_metadata={"finish_reason": "stop"},
                usage_metadata={"input_tokens": 12, "output_tokens": 14, "total_tokens": 26},
            )
            return ChatResult(generations=[ChatGeneration(message=message)], llm_output={"model_name": "test-model"})

    instant = Instant()

    class Wrapper(Instant):
        async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                             **kwargs: Any) -> ChatResult:  # fmt: skip
            return await instant._agenerate(messages, **kwargs)

    router = process_router()
    # Every backend's client for this loop is the instant one (what Router.client would build and keep).
    if hasattr(router._clients, "keep"):

        async def close() -> None:
            return None

        for name in router.backends:
            router._clients.keep(name, instant, close)
    else:  # a checkout from before router.connections: one plain dict per loop
        router._clients[asyncio.get_running_loop()] = dict.fromkeys(router.backends, instant)
    routed = RoutedChatModel(router=router, workflow="bench")
    wrapper = Wrapper()
    messages = [HumanMessage(prompt)]
    request = routed._request(messages, None)
    subjects: dict[str, Callable[[], Awaitable[object]]] = {
        "wrapper": lambda: wrapper.ainvoke(messages),
        "routed": lambda: routed.ainvoke(messages),
        "execute": lambda: router.execute(messages, request),
        "fake": lambda: instant._agenerate(messages),
    }

    async def p50(call: Callable[[], Awaitable[object]], n: int) -> float:
        times = []
        for _ in range(n):
            started = time.perf_counter()
            await call()
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    for call in subjects.values():
        await p50(call, 200)  # warm: caches, first-use imports
    results: dict[str, list[float]] = {name: [] for name in subjects}
    for _ in range(rounds):
        for name, call in subjects.items():
            results[name].append(await p50(call, calls))
    label = f"{backends}_backends"
    for name, values in results.items():
        print(f"{name}_{label}_p50 {statistics.median(values) * 1e6:.1f} us")
    added = statistics.median(r - w for r, w in zip(results["routed"], results["wrapper"], strict=True))
    print(f"routed_over_wrapper_{label}_p50 {added * 1e6:.1f} us  # median over rounds of (routed - wrapper)")


if __name__ == "__main__":
    main()
