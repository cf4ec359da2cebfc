"""The triage workflow's tool steps and its approval handler (the flow is ``workflows/trade_break_triage.yaml``).

Who started a run and who answered it come from the run's config, where the server puts the authenticated
user (:func:`access.roles.caller_from_config`); an in-process run (``tradeflow run``) is the ``local`` caller.
A run resumed through ``POST /approvals/{thread_id}`` runs as the thread's owner acting for the approver the
route authenticated (:func:`access.approvals.approver_from_config`): that approver is the one recorded.
Every decision, by a person or by policy, is appended to the approval audit; a pause at an approval is
recorded in the approval queue, so approvers can list it (``GET /approvals``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_config

from access.approvals import approver_from_config
from access.audit import Decision
from access.roles import LOCAL, ROLES, Caller, caller_from_config
from access.runtime import approval_audit, approval_queue
from core.settings import get_settings
from graphs.errors import InvalidInputError
from graphs.trade_break_triage.approval import four_eyes_problem, parse_approval
from graphs.trade_break_triage.threshold import notional_in_threshold_currency
from versioning.errors import ResumeError

logger = logging.getLogger(__name__)

APPROVAL_INSTRUCTIONS = (
    'Resume with {"approved": true or false, "comment": "<optional>"}; the approver is the identity of your API '
    "key (it must hold the approver role and must not be who started the run)."
)
WORKFLOW = "trade_break_triage"


def _config() -> RunnableConfig:
    try:
        return get_config()
    except RuntimeError:  # called outside a run (a unit test of a tool)
        return {}


def current_caller(config: Mapping[str, Any] | None = None) -> Caller:
    """Who sent the current run; ``local`` (every role) for an in-process run without a server."""
    return caller_from_config(_config() if config is None else config) or Caller(LOCAL, ROLES)


def acting_approver(config: Mapping[str, Any] | None = None) -> Caller:
    """Who answers the current run's approval: the approver a delegated resume acts for, else the caller."""
    config = _config() if config is None else config
    return approver_from_config(config) or current_caller(config)


def _run_ids(config: Mapping[str, Any]) -> tuple[str, str]:
    configurable = config.get("configurable") or {}
    thread_id = str(configurable.get("thread_id") or "")
    run_id = configurable.get("run_id") or config.get("run_id") or uuid.uuid4()
    return thread_id, str(run_id)


async def _append(state: Mapping[str, Any], identity: str, decision: str, reason: str) -> None:
    """Append to the audit in a thread (the server's event loop must not block on the database)."""
    thread_id, run_id = _run_ids(_config())
    trade_break = state.get("trade_break") or {}
    decision_row = Decision(
        identity=identity,
        thread_id=thread_id,
        run_id=run_id,
        workflow=WORKFLOW,
        break_id=str(trade_break.get("break_id", "")),
        decision=decision,
        reason=reason,
        requested_by=state.get("requested_by"),
    )
    await asyncio.to_thread(approval_audit().append, decision_row)


def assess_approval(state: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Compare the notional with the threshold in the threshold's currency; record who started the run."""
    currency = getattr(context, "threshold_currency", "USD")
    threshold = float(getattr(context, "approval_threshold", 0.0))
    converted = notional_in_threshold_currency(state["trade_break"], state.get("fx_rates"), currency)
    return {
        "requires_approval": converted > threshold,
        "threshold_notional": converted,
        "requested_by": current_caller().identity,
    }


async def announce_approval(request: Mapping[str, Any], state: Mapping[str, Any]) -> None:
    """Record that this thread waits at an approval showing ``request`` (``GET /approvals`` lists it)."""
    thread_id, _ = _run_ids(_config())
    if not thread_id:  # no checkpointer, no thread: nothing can resume it later
        return
    workflow = str(state.get("workflow") or WORKFLOW)
    requested_by = state.get("requested_by")
    await asyncio.to_thread(approval_queue().announce, thread_id, workflow,
                            requested_by if isinstance(requested_by, str) else None, request)  # fmt: skip


async def record_approval(value: object, state: Mapping[str, Any]) -> dict[str, Any]:
    """A human's answer as the decision; the approver is the authenticated caller, checked for four eyes."""
    try:
        answer = parse_approval(value)
    except InvalidInputError as exc:
        raise ResumeError(exc.problems) from None
    caller = acting_approver()
    problem = four_eyes_problem(
        caller, answer, state.get("requested_by"), production=get_settings().env == "production"
    )
    if problem is not None:
        logger.warning("approval refused for %s: %s", caller.identity, problem.message)
        raise ResumeError([(problem.field, problem.message)])
    decision = "approved" if answer.approved else "rejected"
    await _append(state, caller.identity, decision, answer.comment)
    thread_id, _ = _run_ids(_config())
    if thread_id:
        await asyncio.to_thread(approval_queue().decided, thread_id, caller.identity)
    return {"decision": decision, "approver": caller.identity, "approval_comment": answer.comment}


async def auto_approve(state: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Approve a break below the threshold by policy."""
    await _append(state, "system", "auto_approved", "below approval threshold")
    return {"decision": "auto_approved", "approver": "system", "approval_comment": "below approval threshold"}


def record_outcome(state: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Turn the decision into the triage outcome."""
    approved = state["decision"] in ("approved", "auto_approved")
    return {"status": "resolution_approved" if approved else "resolution_rejected"}
