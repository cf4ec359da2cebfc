"""The router under cancellation, synchronous use, mid-stream faults inside a graph and slow first tokens.

Every test runs the real langchain-openai client against the LLM server double.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from router.chat_model import RoutedChatModel
from router.config import parse_config
from router.engine import Router
from router.errors import StreamInterruptedError
from router.request import RouteRequest
from tests.doubles.llm_server import Behaviour, LLMServerDouble
from tests.integration.test_router_faults import LARGE, PRICES, PRIMARY, SECONDARY, _table


def _router(double: LLMServerDouble, **overrides: Any) -> Router:
    return Router(parse_config(_table(double, **overrides), "test"), env={}, prices=PRICES)


async def _wait_for_request(double: LLMServerDouble, model: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not double.requests_for(model):
        assert time.monotonic() < deadline, f"{model} never called"
        await asyncio.sleep(0.01)


async def test_cancelling_a_trial_call_gives_the_recovering_backend_its_slot_back(llm_double: LLMServerDouble) -> None:
    """Regression: a CancelledError during the half-open trial call left the backend blocked for good."""
    router = _router(llm_double, breaker={"failure_threshold": 1, "open_s": 0.2, "max_open_s": 0.2})
    llm_double.set_behaviour(PRIMARY, Behaviour(fault="status", status=503))
    _, record = await router.execute([HumanMessage("break")], RouteRequest(prompt_tokens=20, max_tokens=256))
    assert record.answered_by == "secondary"
    assert str(router.health.breakers["primary"].state) == "open"
    await asyncio.sleep(0.3)  # the open period is over: the next call is primary's trial call
    llm_double.set_behaviour(PRIMARY, Behaviour(fault="hang"))
    task = asyncio.create_task(router.execute([HumanMessage("trial")], RouteRequest(prompt_tokens=20, max_tokens=256)))
    await _wait_for_request(llm_double, PRIMARY)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not router.health.breakers["primary"].probe_in_flight
    llm_double.set_behaviour(PRIMARY, Behaviour())
    _, record = await router.execute([HumanMessage("after")], RouteRequest(prompt_tokens=20, max_tokens=256))
    assert record.answered_by == "primary"


def test_sync_invoke_works_twice_from_threads_and_sync_stream_streams(llm_double: LLMServerDouble) -> None:
    """Regression: each invoke ran asyncio.run while the cached client stayed bound to the first loop."""
    chat = RoutedChatModel(router=_router(llm_double), workflow="sync")
    first = chat.invoke([HumanMessage("first")])
    second = chat.invoke([HumanMessage("second")])
    assert first.text.startswith(f"[{PRIMARY}:")
    assert second.text.startswith(f"[{PRIMARY}:")
    with ThreadPoolExecutor(4) as pool:
        texts = list(pool.map(lambda i: chat.invoke([HumanMessage(f"thread {i}")]).text, range(8)))
    assert len(set(texts)) == 8
    chunks = list(chat.stream([HumanMessage("stream it")]))
    assert len(chunks) > 10  # token by token, not one message
    assert "".join(str(c.content) for c in chunks) == chat.invoke([HumanMessage("stream it")]).text
    assert len({c.id for c in chunks}) == 1  # one answer, one message id


async def test_sync_invoke_inside_a_running_event_loop(llm_double: LLMServerDouble) -> None:
    """Regression: invoke from code running inside an event loop raised (asyncio.run in a running loop)."""
    chat = RoutedChatModel(router=_router(llm_double), workflow="sync")
    reply = await asyncio.to_thread(lambda: chat.invoke([HumanMessage("from a worker thread")]))
    assert reply.text.startswith(f"[{PRIMARY}:")
    assert chat.invoke([HumanMessage("on the loop's own thread")]).text.startswith(f"[{PRIMARY}:")


class _State(TypedDict, total=False):
    question: str
    answer: str


def _graph(chat: RoutedChatModel) -> Any:
    async def ask(state: _State) -> dict[str, Any]:
        reply = await chat.ainvoke([HumanMessage(state["question"])])
        return {"answer": reply.text}

    builder = StateGraph(_State)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder.compile()


@pytest.mark.parametrize("fault", ["stream_cut", "stall", "malformed_chunk"])
async def test_a_mid_stream_fault_inside_a_graph_restarts_on_the_fallback(
    llm_double: LLMServerDouble, fault: str
) -> None:
    """Regression: a graph streamed with stream_mode="messages" ended with StreamInterruptedError after the
    first token although a healthy fallback was configured. The partial message is marked superseded."""
    llm_double.set_behaviour(PRIMARY, Behaviour(fault=fault, stall_s=3))  # type: ignore[arg-type]
    graph = _graph(RoutedChatModel(router=_router(llm_double), workflow="streamed"))
    by_id: dict[str, list[AIMessageChunk]] = {}
    final: dict[str, Any] = {}
    async for mode, data in graph.astream({"question": "explain the break"}, stream_mode=["messages", "values"]):
        if mode == "messages":
            message, _ = data
            by_id.setdefault(message.id, []).append(message)
        else:
            final = data
    assert final["answer"].startswith(f"[{SECONDARY}:")
    assert len(by_id) == 2  # the superseded partial and the answer, each under its own id
    partial_id, answer_id = list(by_id)
    closing = by_id[partial_id][-1]
    assert closing.response_metadata["tradeflow_superseded"] is True
    assert closing.response_metadata["replaced_by"] == answer_id
    assert "".join(str(c.content) for c in by_id[answer_id]) == final["answer"]
    assert not any(c.response_metadata.get("tradeflow_superseded") for c in by_id[answer_id])


async def test_astream_fails_by_default_and_buffers_when_asked(llm_double: LLMServerDouble) -> None:
    llm_double.set_behaviour(PRIMARY, Behaviour(fault="stream_cut"))
    router = _router(llm_double)
    failing = RoutedChatModel(router=router)
    with pytest.raises(StreamInterruptedError):
        async for _ in failing.astream([HumanMessage("explain the break")]):
            pass
    buffered = RoutedChatModel(router=router, stream_faults="buffer")
    chunks = [c async for c in buffered.astream([HumanMessage("explain the break")])]
    text = "".join(str(c.content) for c in chunks)
    assert text.startswith(f"[{SECONDARY}:")  # nothing of the cut primary answer
    assert len({c.id for c in chunks}) == 1


async def test_one_streamed_answer_has_one_message_id(llm_double: LLMServerDouble) -> None:
    """Regression: text chunks carried the inner call's id and the closing chunk the routed run's."""
    chat = RoutedChatModel(router=_router(llm_double))
    chunks = [c async for c in chat.astream([HumanMessage("stream it")])]
    assert len(chunks) > 10
    assert len({c.id for c in chunks}) == 1
    assert chunks[-1].response_metadata["router_backend"] == "primary"


async def test_a_silent_backend_hands_over_well_before_the_ceiling(llm_double: LLMServerDouble) -> None:
    """Regression: with the default limits a backend silent for 20 s held the call for 20 s. Measured at
    ~10 ms to first token, it is now abandoned after the floor (2 s), since a fallback is configured."""
    table = _table(llm_double)
    del table["timeouts"]  # the defaults: ceiling 20 s, 4x measured TTFT, floor 2 s
    router = Router(parse_config(table, "test"), env={}, prices=PRICES)

    async def emit(chunk: AIMessageChunk) -> None:
        return None

    for _ in range(3):
        await router.execute([HumanMessage("warm")], RouteRequest(prompt_tokens=20, max_tokens=256), emit=emit)
    llm_double.set_behaviour(PRIMARY, Behaviour(fault="slow_first_token", first_token_delay_s=25))
    started = time.monotonic()
    _, record = await router.execute([HumanMessage("slow")], RouteRequest(prompt_tokens=20, max_tokens=256), emit=emit)
    assert time.monotonic() - started < 10
    assert [(a.backend, a.error_class) for a in record.attempts] == [("primary", "first_token_timeout"),
                                                                     ("secondary", None)]  # fmt: skip
    assert router.health.first_token_limit("secondary", router.config.timeouts, streamed=True, max_tokens=256,
                                           has_fallback=False) == 20.0  # fmt: skip


def test_first_token_limits_follow_the_measurements(llm_double: LLMServerDouble) -> None:
    from router.config import Timeouts
    from router.health import BackendHealth
    from router.policy import BackendTable
    from tests.integration.test_router_faults import PRICES as prices

    config = parse_config(_table(llm_double, kind="openai"), "t")
    table = BackendTable(config.backends, [prices.price_for(b.model, time_date(), None) for b in config.backends])
    health = BackendHealth(list(config.backends), config.breaker, table)
    limits = Timeouts()
    assert health.first_token_limit("primary", limits, streamed=True, max_tokens=256, has_fallback=True) == 8.0
    for ttft in (0.9, 1.0, 1.1):
        health.observe("primary", ttft, ttft + 1, 50, streamed=True)
    assert health.first_token_limit("primary", limits, streamed=True, max_tokens=256, has_fallback=True) == 4.4
    assert health.first_token_limit("primary", limits, streamed=True, max_tokens=256, has_fallback=False) == 20.0
    health.observe("secondary", 0.01, 0.02, 5, streamed=True)
    assert health.first_token_limit("secondary", limits, streamed=True, max_tokens=256, has_fallback=True) == 2.0


def time_date() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC).date()


def test_threads_share_one_router_loop(llm_double: LLMServerDouble) -> None:
    chat = RoutedChatModel(router=_router(llm_double))
    loops = set()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            chat.invoke([HumanMessage("x")])
            loops.add(id(asyncio.get_event_loop_policy()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(llm_double.requests_for(PRIMARY)) == 4
    assert LARGE not in {r.model for r in llm_double.requests}
