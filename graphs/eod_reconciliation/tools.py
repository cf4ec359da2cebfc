"""The reconciliation workflow's tool steps (the flow and prompt are in ``workflows/eod_reconciliation.yaml``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphs.eod_reconciliation.context import ReconciliationContext
from graphs.eod_reconciliation.matching import find_mismatches, rank, risk_score
from graphs.eod_reconciliation.state import ExplainedMismatch


def match_positions(state: Mapping[str, Any], context: ReconciliationContext | None) -> dict[str, Any]:
    """Find every mismatch between the books and the custodian, in code."""
    tolerance = (context or ReconciliationContext()).quantity_tolerance
    return {"mismatches": find_mismatches(state["book_positions"], state["custodian_positions"], tolerance)}


def score_mismatch(state: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Score one explained mismatch by exposure and likely cause."""
    mismatch, explanation = state["mismatch"], state["explanation"]
    cause = explanation["likely_cause"]
    item = ExplainedMismatch(
        mismatch=mismatch,
        likely_cause=cause,
        explanation=explanation["explanation"],
        suggested_action=explanation["suggested_action"],
        risk_score=risk_score(mismatch, cause),
    )
    return {"explained": [item]}


def rank_by_risk(state: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Join the fan-out and order the explained mismatches by risk."""
    return {"ranked": rank(state.get("explained", []))}
