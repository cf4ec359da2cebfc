"""From a model result to rows and metrics: the router's decision record when there is one, else usage.

The decision record is read as plain data (``model_dump()`` of the router's record, or a dict), so
analytics depends on its shape, not on the router package. A routed call's cost is the one the router
computed from the shared price table (each attempt's ``cost_usd`` and ``cost_source``), stored as is, so the
router's budgets and analytics' reports can never disagree; failed attempts that consumed tokens carry their
cost too. Only calls that did not go through the router are priced here, from the same table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.outputs import LLMResult

from analytics.metrics import Metrics
from analytics.rows import LlmCallRow, RoutingDecisionRow, Row
from core.prices import PriceTable

# The custom callback event the router subgraph sends its decision record with (router.record.DECISION_EVENT).
DECISION_EVENT = "tradeflow.router_decision"


def as_decision(found: Any) -> dict[str, Any] | None:
    """A decision record (the router's object, or its plain data) as a dict."""
    if found is None:
        return None
    if hasattr(found, "model_dump"):
        dumped: dict[str, Any] = found.model_dump(mode="json")
        return dumped
    return dict(found)


def decision_of(response: LLMResult) -> dict[str, Any] | None:
    """The routing decision attached to a model result, as a dict, if there is one."""
    found = (response.llm_output or {}).get("router_decision")
    if found is None and response.generations and response.generations[0]:
        found = (response.generations[0][-1].generation_info or {}).get("router_decision")
    return as_decision(found)


def _cost(prices: PriceTable, model: str, provider: str, now: datetime, tokens: tuple[int, int, int]
          ) -> tuple[float, str]:  # fmt: skip
    priced = prices.cost(model, now.date(), *tokens, provider=provider)
    if priced is not None:
        return priced.cost_usd, priced.source
    return 0.0, "unpriced"


def decision_rows(decision: dict[str, Any], workflow: str, run_id: str | None, now: datetime) -> list[Row]:
    """An ``llm_calls`` row per attempt and one ``routing_decisions`` row, from a decision record."""
    rows: list[Row] = []
    for number, attempt in enumerate(decision.get("attempts", []), start=1):
        usage = attempt.get("usage") or {}
        tokens = (int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)),
                  int(usage.get("cached_input_tokens", 0)))  # fmt: skip
        cost = float(attempt.get("cost_usd") or 0.0)
        source = str(attempt.get("cost_source") or "router")
        rows.append(LlmCallRow(
            now, run_id, decision["request_id"], workflow, attempt.get("provider", "unknown"), attempt["model"],
            attempt["backend"], attempt["outcome"], attempt.get("error_class"), number, attempt.get("fallback_from"),
            *tokens, usage.get("provenance", "estimate"), cost, source, float(attempt["latency_s"]),
            attempt.get("ttft_s"),
        ))  # fmt: skip
    chain = decision.get("fallback_chain", [])
    rows.append(RoutingDecisionRow(
        now, decision["request_id"], workflow, decision["strategy"], decision.get("choice"),
        decision.get("answered_by"), decision.get("outcome", "failed"), len(decision.get("attempts", [])),
        max(len(chain) - 1, 0), len(decision.get("candidates", [])), len(decision.get("excluded", {})),
        decision.get("estimated_cost_usd"), sum(r.cost_usd for r in rows if isinstance(r, LlmCallRow)),
        float(decision.get("total_latency_s", 0.0)),
    ))  # fmt: skip
    return rows


def llm_rows(
    response: LLMResult, workflow: str, run_id: str | None, duration_s: float, provider: str, prices: PriceTable
) -> tuple[list[Row], dict[str, Any] | None]:
    """Rows for one model call: an ``llm_calls`` row per attempt, plus a ``routing_decisions`` row if routed."""
    now = datetime.now(UTC)
    decision = decision_of(response)
    if decision is not None:
        return decision_rows(decision, workflow, run_id, now), decision
    last = response.generations[0][-1] if response.generations and response.generations[0] else None
    message = getattr(last, "message", None)
    usage: dict[str, Any] = dict(message.usage_metadata or {}) if isinstance(message, AIMessage) else {}
    model = str(message.response_metadata.get("model_name", "unknown")) if isinstance(message, AIMessage) else "unknown"
    tokens = (int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)),
              int((usage.get("input_token_details") or {}).get("cache_read") or 0))  # fmt: skip
    cost, source = _cost(prices, model, provider, now, tokens)
    row = LlmCallRow(now, run_id, None, workflow, provider, model, None, "success", None, 1, None, *tokens,
                     "provider" if usage else "estimate", cost, source, duration_s, None)  # fmt: skip
    return [row], None


def record_llm_metrics(metrics: Metrics, rows: list[Row], decision: dict[str, Any] | None, workflow: str) -> None:
    """GenAI and router metrics for one model call."""
    previous: LlmCallRow | None = None
    for row in rows:
        if not isinstance(row, LlmCallRow):
            continue
        labels = ("chat", row.provider, row.model)
        if row.status == "success":
            metrics.token_usage.labels(*labels, "input").observe(row.input_tokens)
            metrics.token_usage.labels(*labels, "output").observe(row.output_tokens)
            metrics.operation_duration.labels(*labels).observe(row.latency_s)
        if row.cost_usd:
            metrics.llm_cost.labels(row.provider, row.model, workflow).inc(row.cost_usd)
        if row.backend is not None:
            metrics.router_attempts.labels(row.backend, row.status, row.error_class or "none").inc()
            if previous is not None and previous.backend is not None and previous.backend != row.backend:
                # The call moved on from ``previous``'s backend, for the reason its last failure gave.
                metrics.router_fallbacks.labels(previous.backend, previous.error_class or "unknown").inc()
        previous = row
    if decision is not None:
        answered = decision.get("answered_by") or "none"
        metrics.router_decisions.labels(workflow, decision["strategy"], answered, decision.get("outcome")).inc()
