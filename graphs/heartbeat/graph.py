"""The heartbeat graph: echoes its input with the time the server handled it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from langgraph.graph import END, START, StateGraph

from graphs.heartbeat.state import HeartbeatInput, HeartbeatState
from graphs.serving import serve

__all__ = ["HeartbeatInput", "HeartbeatState", "builder", "graph"]


async def stamp(state: HeartbeatState) -> dict[str, Any]:
    """Record when the probe was handled."""
    return {"handled_at": datetime.now(UTC).isoformat()}


builder = StateGraph(HeartbeatState, input_schema=HeartbeatInput)
builder.add_node("stamp", stamp)
builder.add_edge(START, "stamp")
builder.add_edge("stamp", END)

# The server runs this compiled graph; analytics sees every run through the handler in its config.
graph = serve(builder, graph_id="heartbeat", name="Heartbeat")
