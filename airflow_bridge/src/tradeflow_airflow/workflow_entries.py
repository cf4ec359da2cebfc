"""Workflow entries: what becomes one generated DAG, parsed and checked field by field.

An entry comes from a published spec (the server's ``GET /workflows``, the contract's ``schedule`` block)
or from ``workflows_config.yaml`` (ad-hoc DAGs: a served graph on a schedule, or a workflow pinned to a
version). Every problem raises :class:`~tradeflow_airflow.errors.WorkflowEntryError` naming the entry,
where it came from and the field, before any DAG exists.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from croniter import croniter

from tradeflow_airflow.errors import WorkflowEntryError

ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
SCHEDULE_KEYS = {
    "cron", "timezone", "assets", "label", "version", "input", "context", "retries", "retry_delay_s", "sla_s", "emits",
    "unit_key", "deferrable",
}  # fmt: skip
CONFIG_KEYS = {"id", "workflow", "graph", "description", "owner", "schedule"}
LATEST = "latest"
"""The label the server resolves to the newest version."""


@dataclass(frozen=True)
class WorkflowEntry:
    """One scheduled workflow: what to run, when, and how hard to try."""

    id: str
    source: str
    """Where the entry came from: ``server`` or the config file's path."""
    workflow: str | None = None
    """The versioned workflow to run (``versioned_workflow``); None when ``graph`` is set."""
    graph: str | None = None
    """A served graph to run directly (config entries only)."""
    spec_version: int | None = None
    """The version the label pointed at when the DAG was built (tags; the run records the one it ran)."""
    description: str = ""
    owner: str = "tradeflow"
    cron: str | None = None
    timezone: str = "UTC"
    assets: tuple[str, ...] = ()
    label: str = "production"
    version: int | None = None
    unit_key: str | None = None
    input: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    retry_delay_s: float = 300.0
    sla_s: float | None = None
    emits: tuple[str, ...] = ()
    deferrable: bool | None = None


def _fail(entry: str, source: str, field_name: str, expected: str, got: Any) -> WorkflowEntryError:
    return WorkflowEntryError(f"workflow {entry!r} ({source}): {field_name}: expected {expected}, got {got!r}")


def _uris(entry: str, source: str, name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(u, str) and "://" in u for u in value):
        raise _fail(entry, source, name, "a list of asset URIs like 'tradeflow://eod/prices'", value)
    return tuple(value)


def _number(entry: str, source: str, name: str, value: Any, default: float | None, minimum: float) -> float | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise _fail(entry, source, name, f"a number >= {minimum:g}", value)
    return float(value)


def parse_schedule(entry: str, source: str, schedule: Any) -> dict[str, Any]:
    """Check a ``schedule`` block; returns the WorkflowEntry fields it sets."""
    if not isinstance(schedule, Mapping):
        raise _fail(entry, source, "schedule", "a mapping with cron and/or assets", schedule)
    # The server lists every field of its schedule model, unset ones as null: null means "not given".
    schedule = {key: value for key, value in schedule.items() if value is not None}
    unknown = sorted(set(schedule) - SCHEDULE_KEYS)
    if unknown:
        raise _fail(entry, source, f"schedule.{unknown[0]}", f"one of {', '.join(sorted(SCHEDULE_KEYS))}", unknown[0])
    cron = schedule.get("cron")
    if cron is not None and (not isinstance(cron, str) or len(cron.split()) != 5 or not croniter.is_valid(cron)):
        raise _fail(entry, source, "schedule.cron", "a 5-field cron expression like '30 7 * * 1-5'", cron)
    timezone = schedule.get("timezone", "UTC")
    try:
        zoneinfo.ZoneInfo(str(timezone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _fail(entry, source, "schedule.timezone", "an IANA time zone like 'Europe/London'", timezone) from None
    assets = _uris(entry, source, "schedule.assets", schedule.get("assets"))
    if cron is None and not assets:
        raise _fail(entry, source, "schedule", "at least one of cron or assets", dict(schedule))
    label = schedule.get("label", "production")
    if not isinstance(label, str) or not label:
        raise _fail(entry, source, "schedule.label", "a label name", label)
    version = schedule.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise _fail(entry, source, "schedule.version", "a version number >= 1", version)
    for name in ("input", "context"):
        if not isinstance(schedule.get(name, {}), Mapping):
            raise _fail(entry, source, f"schedule.{name}", "a mapping", schedule.get(name))
    retries = schedule.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise _fail(entry, source, "schedule.retries", "an integer >= 0", retries)
    deferrable = schedule.get("deferrable")
    if deferrable is not None and not isinstance(deferrable, bool):
        raise _fail(entry, source, "schedule.deferrable", "true or false", deferrable)
    return {
        "cron": cron,
        "timezone": str(timezone),
        "assets": assets,
        "label": label,
        "version": version,
        "unit_key": schedule.get("unit_key"),
        "input": dict(schedule.get("input") or {}),
        "context": dict(schedule.get("context") or {}),
        "retries": retries,
        "retry_delay_s": _number(entry, source, "schedule.retry_delay_s", schedule.get("retry_delay_s"), 300.0, 0),
        "sla_s": _number(entry, source, "schedule.sla_s", schedule.get("sla_s"), None, 1),
        "emits": _uris(entry, source, "schedule.emits", schedule.get("emits")),
        "deferrable": deferrable,
    }


def _check_id(entry: Any, source: str) -> str:
    if not isinstance(entry, str) or not ID_PATTERN.match(entry):
        raise WorkflowEntryError(f"workflow {entry!r} ({source}): id: expected {ID_PATTERN.pattern}, got {entry!r}")
    return entry


def _labelled_version(workflow_id: str, item: Mapping[str, Any], label: str) -> int:
    """The version ``label`` points at in a ``GET /workflows`` item (``latest``: the newest one)."""
    labels = item.get("labels") or {}
    version = item.get("latest_version") if label == LATEST else labels.get(label)
    if isinstance(version, bool) or not isinstance(version, int):
        set_labels = ", ".join(f"{name}={number}" for name, number in sorted(labels.items())) or "none"
        raise WorkflowEntryError(
            f"workflow {workflow_id!r} (server): schedule.label: label {label!r} points at no version "
            f"(labels: {set_labels}); scheduled runs would fail to resolve: point it at a version "
            f"(`tradeflow workflows label {workflow_id} {label} <version>`) or name another label"
        )
    return version


def from_server(item: Mapping[str, Any]) -> WorkflowEntry | None:
    """An entry from one ``GET /workflows`` item; None when the workflow has no schedule.

    Its ``spec_version`` (the DAG's ``spec_version:<n>`` tag) is the version the schedule's label points at
    (or its pinned version), not the latest published one: that is what the scheduled runs will run.
    """
    workflow_id = _check_id(item.get("workflow"), "server")
    schedule = item.get("schedule")
    if schedule is None:
        return None
    fields = parse_schedule(workflow_id, "server", schedule)
    pinned = fields["version"]
    return WorkflowEntry(
        id=workflow_id,
        source="server",
        workflow=workflow_id,
        spec_version=pinned if pinned is not None else _labelled_version(workflow_id, item, fields["label"]),
        description=str(item.get("description") or ""),
        owner=str(item.get("owner") or "tradeflow"),
        **fields,
    )


def from_config(item: Any, source: str, position: int) -> WorkflowEntry:
    """An entry from one item of ``workflows_config.yaml``'s ``workflows`` list."""
    if not isinstance(item, Mapping):
        raise WorkflowEntryError(
            f"workflow #{position} ({source}): expected a mapping with id and schedule, got {item!r}"
        )
    entry_id = _check_id(item.get("id"), f"{source} #{position}")
    unknown = sorted(set(item) - CONFIG_KEYS)
    if unknown:
        raise _fail(entry_id, source, unknown[0], f"one of {', '.join(sorted(CONFIG_KEYS))}", unknown[0])
    if item.get("workflow") and item.get("graph"):
        raise _fail(entry_id, source, "graph", "either workflow or graph, not both", item.get("graph"))
    graph = item.get("graph")
    workflow = None if graph else (item.get("workflow") or entry_id)
    for name, value in (("graph", graph), ("workflow", workflow)):
        if value is not None and not (isinstance(value, str) and ID_PATTERN.match(value)):
            raise _fail(entry_id, source, name, ID_PATTERN.pattern, value)
    if "schedule" not in item:
        raise _fail(entry_id, source, "schedule", "a mapping with cron and/or assets", None)
    fields = parse_schedule(entry_id, source, item["schedule"])
    return WorkflowEntry(
        id=entry_id,
        source=source,
        workflow=workflow,
        graph=graph,
        spec_version=fields["version"],
        description=str(item.get("description") or ""),
        owner=str(item.get("owner") or "tradeflow"),
        **fields,
    )
