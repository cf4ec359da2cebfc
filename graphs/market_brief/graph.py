"""The market-brief graph: compute figures in code, then have a model write the brief."""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from graphs.market_brief.context import MarketBriefContext
from graphs.market_brief.nodes import compute_market_figures, write_brief
from graphs.market_brief.state import MarketBriefInput, MarketBriefOutput, MarketBriefState
from graphs.serving import serve

builder = StateGraph(
    MarketBriefState,
    input_schema=MarketBriefInput,
    output_schema=MarketBriefOutput,
    context_schema=MarketBriefContext,
)
builder.add_node("compute_market_figures", compute_market_figures)
builder.add_node("write_brief", write_brief)
builder.add_edge(START, "compute_market_figures")
builder.add_edge("compute_market_figures", "write_brief")
builder.add_edge("write_brief", END)

# The server runs this compiled graph; analytics sees every run through the handler in its config.
graph = serve(builder, graph_id="market_brief", name="MarketBrief")
