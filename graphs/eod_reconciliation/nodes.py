"""Nodes of the reconciliation workflow and of its per-mismatch subgraph."""

from __future__ import annotations

import json
from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from langgraph.types import Send

from graphs.chat_models import generate_structured
from graphs.eod_reconciliation import prompts
from graphs.eod_reconciliation.context import ReconciliationContext
from graphs.eod_reconciliation.matching import find_mismatches, rank, risk_score
from graphs.eod_reconciliation.state import (
    ExplainedMismatch,
    ExplainState,
    Explanation,
    ReconciliationState,
)


def _context(runtime: Runtime[ReconciliationContext]) -> ReconciliationContext:
    return runtime.context or ReconciliationContext()


async def match_positions(state: ReconciliationState, runtime: Runtime[ReconciliationContext]) -> dict[str, Any]:
    """Find every mismatch between the books and the custodian, in code."""
    tolerance = _context(runtime).quantity_tolerance
    return {"mismatches": find_mismatches(state["book_positions"], state["custodian_positions"], tolerance)}


def fan_out_mismatches(state: ReconciliationState) -> list[Send] | Literal["rank_by_risk"]:
    """One explanation per mismatch, in parallel; straight to ranking when the books agree."""
    mismatches = state.get("mismatches", [])
    if not mismatches:
        return "rank_by_risk"
    return [Send("explain_mismatch", {"as_of": state["as_of"], "mismatch": m, "explained": []}) for m in mismatches]


async def draft_explanation(state: ExplainState, runtime: Runtime[ReconciliationContext]) -> dict[str, Any]:
    """Have the model explain one mismatch."""
    messages = [
        SystemMessage(prompts.EXPLAIN_SYSTEM.format(as_of=state["as_of"])),
        HumanMessage(prompts.MISMATCH.format(mismatch_json=json.dumps(state["mismatch"], sort_keys=True))),
    ]
    ctx = _context(runtime)
    explanation = await generate_structured(
        Explanation,
        messages,
        workflow="eod_reconciliation",
        task_type="explanation",
        strategy=ctx.strategy,
        backend=ctx.backend,
    )
    return {"explanation": explanation.model_dump()}


async def score_risk(state: ExplainState) -> dict[str, Any]:
    """Score the explained mismatch by exposure and likely cause."""
    mismatch, explanation = state["mismatch"], state["explanation"]
    cause = explanation["likely_cause"]
    item = ExplainedMismatch(
        mismatch=mismatch,
        likely_cause=cause,  # type: ignore[typeddict-item]
        explanation=explanation["explanation"],
        suggested_action=explanation["suggested_action"],
        risk_score=risk_score(mismatch, cause),  # type: ignore[arg-type]
    )
    return {"explained": [item]}


async def rank_by_risk(state: ReconciliationState) -> dict[str, Any]:
    """Join the fan-out and order the explained mismatches by risk."""
    return {"ranked": rank(state.get("explained", []))}
