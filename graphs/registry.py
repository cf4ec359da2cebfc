"""The graphs tradeflow serves, their input schemas, and input validation shared by the API and CLI."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from graphs.eod_reconciliation.state import ReconciliationInput
from graphs.errors import InvalidInputError, UnknownGraphError
from graphs.heartbeat.state import HeartbeatInput
from graphs.market_brief.state import MarketBriefInput
from graphs.trade_break_triage.approval import parse_approval
from graphs.trade_break_triage.state import TriageInput
from router.state import RouterInput
from versioning.state import VersionedInput

if TYPE_CHECKING:
    from langgraph.graph import StateGraph

# The namespace the LangGraph server derives each graph's default assistant id from
# (uuid5(namespace, graph_id)); a test checks it against langgraph_api's own constant.
ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")


@dataclass(frozen=True)
class GraphEntry:
    """One served graph."""

    graph_id: str
    module: str
    input_schema: type
    summary: str

    @property
    def default_assistant_id(self) -> str:
        """The id the server gives this graph's default assistant."""
        return str(uuid.uuid5(ASSISTANT_NAMESPACE, self.graph_id))


GRAPHS: Mapping[str, GraphEntry] = {
    entry.graph_id: entry
    for entry in (
        GraphEntry(
            "market_brief", "graphs.market_brief.graph", MarketBriefInput, "figures and a brief from a snapshot"
        ),
        GraphEntry("trade_break_triage", "graphs.trade_break_triage.graph", TriageInput, "triage a settlement break"),
        GraphEntry("eod_reconciliation", "graphs.eod_reconciliation.graph", ReconciliationInput, "books vs custodian"),
        GraphEntry("heartbeat", "graphs.heartbeat", HeartbeatInput, "uptime probe; calls no model"),
        GraphEntry("llm_router", "router.subgraph", RouterInput, "route one prompt; shows every attempt"),
        GraphEntry("versioned_workflow", "graphs.versioned_workflow", VersionedInput, "a published workflow by label"),
    )
}


def get_entry(graph_id: str) -> GraphEntry:
    """The registry entry for ``graph_id``, or an error listing the served graphs."""
    try:
        return GRAPHS[graph_id]
    except KeyError:
        raise UnknownGraphError(f"unknown graph {graph_id!r}; served graphs: {', '.join(sorted(GRAPHS))}") from None


def graph_id_for_assistant(assistant_id: str) -> str | None:
    """The graph behind a default assistant id (or a graph id used as one); None if not a default."""
    if assistant_id in GRAPHS:
        return assistant_id
    for entry in GRAPHS.values():
        if entry.default_assistant_id == assistant_id:
            return entry.graph_id
    return None


def load_builder(graph_id: str) -> StateGraph[Any, Any, Any, Any]:
    """The uncompiled builder of ``graph_id``, to compile with a checkpointer."""
    module = importlib.import_module(get_entry(graph_id).module)
    builder: StateGraph[Any, Any, Any, Any] = module.builder
    return builder


@cache
def _adapter(graph_id: str) -> TypeAdapter[Any]:
    return TypeAdapter(get_entry(graph_id).input_schema)


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(input)"


def validate_input(graph_id: str, payload: object) -> dict[str, Any]:
    """Check ``payload`` against the graph's input schema; the error names every bad field."""
    try:
        validated: dict[str, Any] = _adapter(graph_id).validate_python(payload, strict=True)
    except ValidationError as exc:
        problems = [(_field_path(err["loc"]), err["msg"].removeprefix("Value error, ")) for err in exc.errors()]
        raise InvalidInputError(graph_id, problems) from None
    return validated


def validate_resume(graph_id: str, value: object) -> None:
    """Check a ``Command(resume=...)`` value for graphs whose interrupts expect one shape.

    A ``versioned_workflow`` resume depends on the step its thread waits at: see
    :func:`graphs.versioned_resume.check_versioned_resume`.
    """
    if graph_id == "trade_break_triage":
        parse_approval(value)
