"""The served ``trade_break_triage`` graph: its spec (``workflows/trade_break_triage.yaml``) compiled."""

from __future__ import annotations

from graphs.serving import serve
from graphs.workflows import repo_workflow

workflow, version = repo_workflow("trade_break_triage")
builder = workflow.builder

# The server runs this compiled graph; analytics sees every run through the handler in its config.
graph = serve(builder, graph_id="trade_break_triage", name="TradeBreakTriage", version=version)
