"""State of the heartbeat graph (kept apart from the graph so the registry reads it without LangGraph)."""

from __future__ import annotations

from typing import NotRequired

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict


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
