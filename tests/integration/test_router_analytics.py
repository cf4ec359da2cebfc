"""Failed and fallen-over routed calls in analytics: rows, costs, metrics and workflow status."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from prometheus_client import CollectorRegistry

from analytics.callbacks import AnalyticsHandler
from analytics.metrics import Metrics
from analytics.rows import LlmCallRow, RoutingDecisionRow, Row, WorkflowRunRow
from core.prices import PriceTable
from router.chat_model import RoutedChatModel
from router.config import parse_config
from router.engine import Router
from router.errors import AllBackendsFailedError
from tests.conftest import model_env
from tests.doubles.llm_server import Behaviour, LLMServerDouble
from tests.integration.test_router_faults import LARGE, PRICES, PRIMARY, SECONDARY, _table


def _handler() -> tuple[AnalyticsHandler, list[Row], Metrics]:
    rows: list[Row] = []
    metrics = Metrics(CollectorRegistry())
    return AnalyticsHandler(metrics, rows.append, PriceTable.load()), rows, metrics


def _calls(rows: list[Row]) -> list[LlmCallRow]:
    return [r for r in rows if isinstance(r, LlmCallRow)]


async def test_a_failed_routed_call_reaches_analytics_attempt_by_attempt(llm_double: LLMServerDouble) -> None:
    """Regression: the exception carried the decision record, but analytics only read records on success."""
    handler, rows, metrics = _handler()
    router = Router(parse_config(_table(llm_double, retry={"max_attempts": 3}), "t"), env={}, prices=PRICES)
    for model in (PRIMARY, SECONDARY, LARGE):
        llm_double.set_behaviour(model, Behaviour(fault="status", status=500))
    chat = RoutedChatModel(router=router, workflow="desk")
    with pytest.raises(AllBackendsFailedError) as info:
        await chat.ainvoke([HumanMessage("explain")], config={"callbacks": [handler]})
    assert info.value.decision is not None
    calls = _calls(rows)
    assert [(c.backend, c.status, c.error_class) for c in calls] == [
        ("primary", "failed", "server_error"), ("primary", "failed", "server_error"),
        ("secondary", "failed", "server_error"),
    ]  # fmt: skip
    [decision] = [r for r in rows if isinstance(r, RoutingDecisionRow)]
    assert (decision.outcome, decision.attempts, decision.answered_by) == ("failed", 3, None)
    failed = metrics.registry.get_sample_value(
        "tradeflow_router_attempts_total", {"backend": "primary", "outcome": "failed", "error_class": "server_error"}
    )
    assert failed == 2
    assert metrics.registry.get_sample_value(
        "tradeflow_router_decisions_total", {"workflow": "adhoc", "strategy": "cost", "backend": "none",
                                             "outcome": "failed"}
    ) == 1  # fmt: skip


async def test_fallbacks_are_counted_and_linked(llm_double: LLMServerDouble) -> None:
    """Regression: tradeflow_router_fallbacks_total had no samples and llm_calls.fallback_of stayed NULL."""
    handler, rows, metrics = _handler()
    router = Router(parse_config(_table(llm_double), "t"), env={}, prices=PRICES)
    llm_double.set_behaviour(PRIMARY, Behaviour(fault="status", status=503))
    chat = RoutedChatModel(router=router, workflow="desk")
    reply = await chat.ainvoke([HumanMessage("explain")], config={"callbacks": [handler]})
    assert reply.response_metadata["router_backend"] == "secondary"
    calls = _calls(rows)
    assert [(c.backend, c.fallback_of) for c in calls] == [("primary", None), ("primary", None),
                                                           ("secondary", "primary")]  # fmt: skip
    assert metrics.registry.get_sample_value(
        "tradeflow_router_fallbacks_total", {"from_backend": "primary", "error_class": "server_error"}
    ) == 1  # fmt: skip


async def test_a_failed_stream_that_consumed_tokens_is_billed_with_the_routers_cost(
    llm_double: LLMServerDouble,
) -> None:
    """The record carries each attempt's cost and its price source; analytics stores exactly that."""
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    class State(TypedDict, total=False):
        answer: str

    router = Router(parse_config(_table(llm_double), "t"), env={}, prices=PRICES)
    chat = RoutedChatModel(router=router, workflow="desk")

    async def ask(state: State) -> dict[str, Any]:
        return {"answer": (await chat.ainvoke([HumanMessage("explain the break")])).text}

    builder = StateGraph(State)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    handler, rows, _ = _handler()
    llm_double.set_behaviour(PRIMARY, Behaviour(fault="stream_cut"))
    async for _ in builder.compile().astream({}, {"callbacks": [handler]}, stream_mode="messages"):
        pass
    cut, answer = _calls(rows)
    assert (cut.backend, cut.status, cut.error_class) == ("primary", "failed", "stream_broken")
    assert cut.output_tokens > 0
    assert cut.cost_usd == pytest.approx((cut.input_tokens + cut.output_tokens) * 0.1e-6)
    assert cut.cost_source == "price_table:test:m-primary@2024-01-01"
    assert (answer.backend, answer.status) == ("secondary", "success")
    [decision] = [r for r in rows if isinstance(r, RoutingDecisionRow)]
    assert decision.actual_cost_usd == pytest.approx(cut.cost_usd + answer.cost_usd)


async def test_an_llm_router_run_without_an_answer_is_recorded_as_an_error(
    llm_double: LLMServerDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the llm_router graph returns its failure in ``error``; analytics counted the run a success."""
    for key, value in model_env(llm_double, "openai").items():
        monkeypatch.setenv(key, value)
    llm_double.set_behaviour("test-model", Behaviour(fault="status", status=500))
    from router.subgraph import builder

    handler, rows, _ = _handler()
    out = await builder.compile().ainvoke(
        {"prompt": "summarise"}, {"callbacks": [handler], "metadata": {"graph_id": "llm_router"}}
    )
    assert out["error_type"] == "AllBackendsFailedError"
    [run] = [r for r in rows if isinstance(r, WorkflowRunRow)]
    assert (run.status, run.error_type) == ("error", "AllBackendsFailedError")
    assert {c.status for c in _calls(rows)} == {"failed"}
