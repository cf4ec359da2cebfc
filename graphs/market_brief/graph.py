"""The served ``market_brief`` graph: its spec (``workflows/market_brief.yaml``) compiled."""

from __future__ import annotations

from graphs.serving import serve
from graphs.workflows import repo_workflow

workflow, version = repo_workflow("market_brief")
builder = workflow.builder

# The server runs this compiled graph; analytics sees every run through the handler in its config.
graph = serve(builder, graph_id="market_brief", name="MarketBrief", version=version)
