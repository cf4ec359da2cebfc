"""The reconciliation graph: match in code, explain each mismatch in parallel, rank by risk."""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from graphs.eod_reconciliation.context import ReconciliationContext
from graphs.eod_reconciliation.explain import explain_mismatch
from graphs.eod_reconciliation.nodes import fan_out_mismatches, match_positions, rank_by_risk
from graphs.eod_reconciliation.state import ReconciliationInput, ReconciliationOutput, ReconciliationState
from graphs.serving import serve

builder = StateGraph(
    ReconciliationState,
    input_schema=ReconciliationInput,
    output_schema=ReconciliationOutput,
    context_schema=ReconciliationContext,
)
builder.add_node("match_positions", match_positions)
builder.add_node("explain_mismatch", explain_mismatch)
builder.add_node("rank_by_risk", rank_by_risk)
builder.add_edge(START, "match_positions")
builder.add_conditional_edges("match_positions", fan_out_mismatches, ["explain_mismatch", "rank_by_risk"])
builder.add_edge("explain_mismatch", "rank_by_risk")
builder.add_edge("rank_by_risk", END)

# The server runs this compiled graph; analytics sees every run through the handler in its config.
graph = serve(builder, graph_id="eod_reconciliation", name="EodReconciliation")
