"""The router subgraph as the server serves it (``llm_router``), with analytics attached."""

from __future__ import annotations

from analytics.runtime import instrument
from router.subgraph import builder

graph = instrument(builder.compile(name="LLMRouter"), "llm_router")
