"""The decision record's details are written out only when read, yet say what was true when the call was planned.

Planning keeps the candidates and exclusion reasons unwritten (the hot path); these tests read records late —
after breakers, measured latency, prices and enabled backends changed — and compare them with a record planned at
the same moment and read at once. Both table sizes run: plain Python below ``VECTOR_FROM`` backends, numpy above.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from core.prices import Price
from router.config import RouterConfig, Weights
from router.engine import Router
from router.policy import VECTOR_FROM, rank, weights_for
from router.record import DecisionRecord
from router.request import RouteRequest
from tests.support.prices import price_table

SIZES = [6, VECTOR_FROM + 6]


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _router(size: int, clock: _Clock) -> Router:
    """``size`` backends: b00 too small for the request, b01 without json, the rest eligible (b02 is cheapest)."""
    rows: list[dict[str, Any]] = []
    for i in range(size):
        rows.append({
            "name": f"b{i:02d}", "kind": "openai_compatible", "model": f"m{i:02d}", "base_url": "http://127.0.0.1:9/v1",
            "context_window": 1024 if i == 0 else 32000, "max_output_tokens": 1024,
            "capabilities": ["tools"] if i == 1 else ["json", "tools"],
            "latency_prior": {"ttft_s": 0.2 + i / 100, "tokens_per_s": 50 + i},
        })  # fmt: skip
    prices = price_table({f"m{i:02d}": (0.1 + i / 10, 0.2 + i / 10) for i in range(size)})
    return Router(RouterConfig.model_validate({"backends": rows}), env={}, prices=prices, clock=clock)


REQUEST = RouteRequest(prompt_tokens=2000, max_tokens=512, required_capabilities=frozenset({"json"}))


def _details(record: DecisionRecord) -> dict[str, Any]:
    data = record.model_dump(mode="json")
    return {key: data[key] for key in ("candidates", "excluded", "choice", "estimated_cost_usd")}


def _change_everything(router: Router, clock: _Clock) -> None:
    """Close the open breaker, open another, measure latency, reprice every model and disable a backend."""
    router.health.succeeded("b03", 0.01, 0.02, 10, streamed=False)
    router.health.failed("b02", clock(), severe=True)
    for name in router.backends:
        router.health.observe(name, 5.0, 9.0, 40, streamed=True)
    cheaper = [Price(0.01, 0.01, 0.01, "repriced") for _ in router.backends]
    router.table.set_prices(cheaper)
    router.table.disable("b04", "OPENAI_API_KEY is not set")


@pytest.mark.parametrize("size", SIZES)
def test_a_record_read_late_reports_what_was_true_when_the_call_was_planned(size: int) -> None:
    clock = _Clock()
    router = _router(size, clock)
    router.health.failed("b03", clock(), severe=True)  # b03's breaker is open while the call is planned
    _, late = router.plan(REQUEST)
    _, at_once = router.plan(REQUEST)
    expected = _details(at_once)
    assert expected["excluded"]["b03"] == "circuit breaker open"
    assert expected["excluded"]["b00"].startswith("context window 1024 < 2512")
    assert expected["excluded"]["b01"] == "lacks capabilities ['json']"
    eligible = [f"b{i:02d}" for i in range(2, size) if i != 3]
    assert [c["backend"] for c in expected["candidates"]] == eligible  # cheapest first (cost strategy by default)

    _change_everything(router, clock)
    _, now = router.plan(REQUEST)
    assert _details(now) != expected  # the changes do change a decision made now...
    assert _details(late) == expected  # ...but not what the earlier record says about its own
    assert late.excluded["b03"] == "circuit breaker open"
    assert "b04" not in late.excluded


@pytest.mark.parametrize("size", SIZES)
def test_a_ranking_read_late_keeps_its_terms_and_reasons(size: int) -> None:
    clock = _Clock()
    router = _router(size, clock)
    weights = weights_for("balanced", Weights())
    late = rank(REQUEST, router.table, weights, clock(), remaining_budget_usd=0.001)
    at_once = rank(REQUEST, router.table, weights, clock(), remaining_budget_usd=0.001)
    expected = (at_once.order, at_once.scores, at_once.expected_cost_usd, at_once.expected_latency_s,
                at_once.excluded)  # fmt: skip
    assert any("remaining daily budget" in why for why in at_once.excluded.values())
    _change_everything(router, clock)
    assert (late.order, late.scores, late.expected_cost_usd, late.expected_latency_s, late.excluded) == expected


@pytest.mark.parametrize("size", SIZES)
def test_the_logged_record_holds_every_candidate_and_every_exclusion(
    size: int, caplog: pytest.LogCaptureFixture
) -> None:
    router = _router(size, _Clock())
    _, everything = router.plan(REQUEST)
    ranking, record = router.plan(REQUEST, only=frozenset({"b02", "m05"}))  # a workflow limited to two backends
    with caplog.at_level(logging.INFO, logger="router.decisions"):
        record.log()
    logged = json.loads(caplog.records[-1].getMessage())
    names = {f"b{i:02d}" for i in range(size)}
    chosen = [c["backend"] for c in logged["candidates"]]
    assert set(chosen) | set(logged["excluded"]) == names
    assert not set(chosen) & set(logged["excluded"])
    assert chosen == ["b02", "b05"]
    assert logged["excluded"]["b04"] == "not selected for this workflow"
    assert logged["excluded"]["b00"].startswith("context window")
    # Every eligible backend's terms, as ranked: the same as in an unrestricted record of the same moment.
    terms = {c.backend: c.model_dump() for c in everything.candidates}
    assert len(terms) == size - 2
    assert logged["candidates"] == [terms["b02"], terms["b05"]]
    assert [c["backend"] for c in logged["candidates"]] == [n for n in ranking.order if n in ("b02", "b05")]
    # Loaded back (a checkpoint, a log line), the record carries the same details.
    assert _details(DecisionRecord.model_validate(logged)) == _details(record)
