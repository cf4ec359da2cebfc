"""The heartbeat graph: echoes its input with the time the server handled it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NotRequired

from langgraph.graph import END, START, StateGraph
from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

from graphs.serving import serve


@with_config(ConfigDict(extra="forbid", use_attribute_docstrings=True))
class HeartbeatInput(TypedDict):
    """What a probe sends."""

    message: str
    """Any text; it comes back unchanged."""


class HeartbeatState(TypedDict):
    """State of the heartbeat graph."""

    message: str
    """The probe's text."""
    handled_at: NotRequired[str]
    """UTC time at which the graph ran, ISO 8601."""


async def stamp(state: HeartbeatState) -> dict[str, Any]:
    """Record when the probe was handled."""
    return {"handled_at": datetime.now(UTC).isoformat()}


builder = StateGraph(HeartbeatState, input_schema=HeartbeatInput)
builder.add_node("stamp", stamp)
builder.add_edge(START, "stamp")
builder.add_edge("stamp", END)

# The server runs this compiled graph; analytics sees every run through the handler in its config.
graph = serve(builder, graph_id="heartbeat", name="Heartbeat")
