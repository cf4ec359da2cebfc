"""The per-mismatch explanation subgraph, compiled on its own and added to the parent as a node."""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from graphs.eod_reconciliation.context import ReconciliationContext
from graphs.eod_reconciliation.nodes import draft_explanation, score_risk
from graphs.eod_reconciliation.state import ExplainOutput, ExplainState

explain_builder = StateGraph(ExplainState, output_schema=ExplainOutput, context_schema=ReconciliationContext)
explain_builder.add_node("draft_explanation", draft_explanation)
explain_builder.add_node("score_risk", score_risk)
explain_builder.add_edge(START, "draft_explanation")
explain_builder.add_edge("draft_explanation", "score_risk")
explain_builder.add_edge("score_risk", END)

explain_mismatch = explain_builder.compile(name="ExplainMismatch")
