"""The router subgraph as the server serves it (``llm_router``), with analytics attached."""

from __future__ import annotations

from graphs.serving import serve
from router.subgraph import builder

graph = serve(builder, graph_id="llm_router", name="LLMRouter")
