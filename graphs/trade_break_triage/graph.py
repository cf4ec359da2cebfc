"""The trade-break triage graph: classify, propose, approve above a threshold, record."""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from graphs.serving import serve
from graphs.trade_break_triage.context import TriageContext
from graphs.trade_break_triage.nodes import (
    auto_approve,
    classify_break,
    propose_resolution,
    record_outcome,
    request_approval,
    route_after_proposal,
)
from graphs.trade_break_triage.state import TriageInput, TriageState

builder = StateGraph(TriageState, input_schema=TriageInput, context_schema=TriageContext)
builder.add_node("classify_break", classify_break)
builder.add_node("propose_resolution", propose_resolution)
builder.add_node("request_approval", request_approval)
builder.add_node("auto_approve", auto_approve)
builder.add_node("record_outcome", record_outcome)
builder.add_edge(START, "classify_break")
builder.add_edge("classify_break", "propose_resolution")
builder.add_conditional_edges("propose_resolution", route_after_proposal)
builder.add_edge("request_approval", "record_outcome")
builder.add_edge("auto_approve", "record_outcome")
builder.add_edge("record_outcome", END)

# The server runs this compiled graph; analytics sees every run through the handler in its config.
graph = serve(builder, graph_id="trade_break_triage", name="TradeBreakTriage")
