"""One server run as plain data: how to start it, how to wait for it, and what its end means.

The operator's sync path, the trigger and the sensor share this module, so a run ends the same way
whichever waited for it. An outcome is a JSON-safe dict (it travels in a ``TriggerEvent``)::

    {"status": "success" | "interrupted" | "error" | "cancelled",
     "thread_id": ..., "run_id": ..., "values": {...} | None,
     "interrupts": [{"id": ..., "value": ...}], "error_class": ..., "message": ...}
"""

from __future__ import annotations

import logging
from typing import Any, Literal, TypedDict

from langgraph_sdk.client import LangGraphClient, SyncLangGraphClient

logger = logging.getLogger(__name__)

VERSIONED_GRAPH = "versioned_workflow"
"""The served graph that resolves a workflow's version (label, pin or A/B arm) and runs it (the contract)."""

Status = Literal["success", "interrupted", "error", "cancelled"]


class RunOutcome(TypedDict):
    """How a server run ended."""

    status: Status
    thread_id: str
    run_id: str | None
    values: dict[str, Any] | None
    interrupts: list[dict[str, Any]]
    error_class: str | None
    message: str | None


def classify(thread_id: str, run_id: str | None, run_status: str, joined: Any) -> RunOutcome:
    """Turn a finished run's status and its ``join`` body into an outcome.

    The server reports a graph that stopped at ``interrupt()`` as a *successful* run whose values carry
    ``__interrupt__``; a cancelled run has status ``interrupted``; a failed one has ``__error__``.
    """
    body = joined if isinstance(joined, dict) else {}
    outcome = RunOutcome(
        status="success",
        thread_id=thread_id,
        run_id=run_id,
        values=None,
        interrupts=[],
        error_class=None,
        message=None,
    )
    error = body.get("__error__")
    if isinstance(error, dict) or run_status in ("error", "timeout"):
        error = error if isinstance(error, dict) else {}
        outcome["status"] = "error"
        outcome["error_class"] = str(error.get("error") or ("RunTimeout" if run_status == "timeout" else "RunError"))
        outcome["message"] = str(error.get("message") or f"the server reports the run as {run_status}")
        return outcome
    values = {k: v for k, v in body.items() if k != "__interrupt__"}
    outcome["values"] = values
    if run_status == "interrupted":
        outcome["status"] = "cancelled"
        outcome["message"] = "the run was cancelled on the server"
        return outcome
    interrupts = body.get("__interrupt__") or []
    if interrupts:
        outcome["status"] = "interrupted"
        outcome["interrupts"] = [
            {"id": item.get("id"), "value": item.get("value")} for item in interrupts if isinstance(item, dict)
        ]
    return outcome


def wait_for_run(client: SyncLangGraphClient, thread_id: str, run_id: str) -> RunOutcome:
    """Block until the run ends (the server keeps the ``join`` request alive), then classify it."""
    joined = client.runs.join(thread_id, run_id)
    run = client.runs.get(thread_id, run_id)
    return classify(thread_id, run_id, str(run["status"]), joined)


async def await_run(client: LangGraphClient, thread_id: str, run_id: str) -> RunOutcome:
    """The async twin of :func:`wait_for_run`, for triggers."""
    joined = await client.runs.join(thread_id, run_id)
    run = await client.runs.get(thread_id, run_id)
    return classify(thread_id, run_id, str(run["status"]), joined)


def versioned_input(
    workflow: str, label: str | None, version: int | None, unit_key: str | None, payload: dict[str, Any] | None
) -> dict[str, Any]:
    """The ``versioned_workflow`` input of the contract: which workflow, how to resolve it, and its input."""
    body: dict[str, Any] = {"workflow": workflow, "label": label or "production", "input": payload or {}}
    if version is not None:
        body["version"] = version
    if unit_key:
        body["unit_key"] = unit_key
    return body


VERSION_FIELDS = ("workflow", "version", "spec_sha", "label", "experiment", "arm")


def resolved_version(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """The version record a ``versioned_workflow`` run reports (None for a plain graph)."""
    if not values or "version" not in values or "workflow" not in values:
        return None
    return {key: values.get(key) for key in VERSION_FIELDS}
