"""The rows analytics writes: narrow, append-only, no prompts or outputs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, ClassVar


@dataclass(slots=True)
class WorkflowRunRow:
    """One workflow run."""

    table: ClassVar[str] = "workflow_runs"
    ts: datetime
    run_id: str
    thread_id: str | None
    workflow: str
    version: str
    status: str
    duration_s: float
    error_type: str | None
    experiment: str | None = None
    arm: str | None = None
    pair_id: str | None = None


@dataclass(slots=True)
class NodeRunRow:
    """One node run inside a workflow run."""

    table: ClassVar[str] = "node_runs"
    ts: datetime
    run_id: str
    workflow: str
    node: str
    status: str
    duration_s: float


@dataclass(slots=True)
class LlmCallRow:
    """One attempt at a model call (failed attempts and fallbacks are rows too)."""

    table: ClassVar[str] = "llm_calls"
    ts: datetime
    run_id: str | None
    decision_id: str | None
    workflow: str
    provider: str
    model: str
    backend: str | None
    status: str
    error_class: str | None
    attempt: int
    fallback_of: str | None
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    token_source: str
    cost_usd: float
    cost_source: str
    latency_s: float
    ttft_s: float | None


@dataclass(slots=True)
class RoutingDecisionRow:
    """One routing decision."""

    table: ClassVar[str] = "routing_decisions"
    ts: datetime
    decision_id: str
    workflow: str
    strategy: str
    choice: str | None
    answered_by: str | None
    outcome: str
    attempts: int
    fallbacks: int
    candidates: int
    excluded: int
    estimated_cost_usd: float | None
    actual_cost_usd: float
    total_latency_s: float


Row = WorkflowRunRow | NodeRunRow | LlmCallRow | RoutingDecisionRow
ROW_TYPES: dict[str, type[Row]] = {t.table: t for t in (WorkflowRunRow, NodeRunRow, LlmCallRow, RoutingDecisionRow)}


def row_to_dict(row: Row) -> dict[str, Any]:
    """A row as a JSON-able dict with its table name (for the spill file)."""
    data = asdict(row)
    data["ts"] = row.ts.isoformat()
    data["_table"] = row.table
    return data


def row_from_dict(data: dict[str, Any]) -> Row:
    """Inverse of :func:`row_to_dict`."""
    data = dict(data)
    kind = ROW_TYPES[data.pop("_table")]
    data["ts"] = datetime.fromisoformat(data["ts"])
    return kind(**data)


def columns(kind: type[Row]) -> list[str]:
    """Column names of a row type, in order."""
    return [f.name for f in fields(kind)]
