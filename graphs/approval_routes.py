"""Four-eyes approvals over HTTP, the same on langgraph-api and on Aegra: ``GET /approvals``, ``POST /approvals/{id}``.

Both routes need the ``approver`` role (behind the server's auth hook, like every custom route). The list is
what tradeflow recorded when runs paused at an approval (:mod:`access.approvals`, in the access database that
every replica shares), with what each interrupt shows; an approver needs no access to the owners' threads.

A decision is checked here first — the approver is the authenticated identity, never a name in the body; it
must hold ``approver`` and must not be whoever started the run (read from the thread's checkpoint) — and
nothing is written when it is refused. Then the approval is claimed (one approver at a time) and the run is
resumed on its owner's thread through the server's own API, with a one-use delegation credential: the server
sees the owner (its tenant boundary holds, on Aegra too), the auth hook checks four eyes again for the
approver, and the graph records that approver in its state and the audit table.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from access.errors import AccessDenied
from access.roles import Caller, require_role
from access.runtime import approval_queue
from core.errors import TradeflowError
from core.settings import get_settings
from graphs.errors import InvalidInputError
from graphs.server_compat import delegated_resume, thread_info, thread_state
from graphs.trade_break_triage.approval import four_eyes_problem, parse_approval

logger = logging.getLogger(__name__)

DECISIONS = {"approve": True, "reject": False}
MAX_REASON = 2000


class ApprovalRefused(TradeflowError):
    """A decision refused before anything was written: the field at fault and the HTTP status."""

    def __init__(self, field: str, message: str, status: int) -> None:
        self.field = field
        self.status = status
        super().__init__(f"{field}: {message}")


def _refusal(exc: TradeflowError) -> JSONResponse:
    status = exc.status if isinstance(exc, ApprovalRefused | AccessDenied) else 400
    logger.info("approval route refused: %s", exc)
    return JSONResponse({"error": str(exc), "field": getattr(exc, "field", None)}, status_code=status)


async def list_approvals(request: Request) -> JSONResponse:
    """Approvals waiting for a decision, oldest first; ``yours``: the caller started it (not theirs to approve)."""
    try:
        caller = require_role(request, "approver", "list approvals")
    except AccessDenied as exc:
        return _refusal(exc)
    rows = await asyncio.to_thread(approval_queue().pending)
    return JSONResponse({"approvals": [
        {**row.as_dict(), "requested_at": datetime.fromtimestamp(row.requested_at, UTC).isoformat(),
         "yours": row.requested_by == caller.identity}
        for row in rows
    ]})  # fmt: skip


def _answer(raw: bytes) -> dict[str, Any]:
    """The resume value for a ``{"decision": "approve"|"reject", "reason": "..."}`` body."""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise ApprovalRefused("(body)", "expected a JSON object", 422) from None
    if not isinstance(body, dict):
        raise ApprovalRefused("(body)", 'expected {"decision": "approve" or "reject", "reason": "..."}', 422)
    extra = sorted(set(body) - {"decision", "reason"})
    if extra:
        raise ApprovalRefused(extra[0], "unexpected field (the approver is your key's identity, never the body's)", 422)
    decision, reason = body.get("decision"), body.get("reason", "")
    if decision not in DECISIONS:
        raise ApprovalRefused("decision", f"expected 'approve' or 'reject', got {decision!r}", 422)
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise ApprovalRefused("reason", f"expected text of at most {MAX_REASON} characters", 422)
    return {"approved": DECISIONS[decision], "comment": reason}


async def _waiting(thread_id: str) -> tuple[dict[str, Any], list[Any], str | None]:
    """The thread's values, the requests it waits on, and who started the run (its checkpoint says)."""
    state = await thread_state(thread_id)
    found = state.get("values")
    values: dict[str, Any] = found if isinstance(found, dict) else {}
    waiting = [i.get("value") for task in state.get("tasks") or [] for i in task.get("interrupts") or []
               if isinstance(i, dict)]  # fmt: skip
    requested_by = values.get("requested_by")
    for request in waiting:
        if requested_by is None and isinstance(request, dict):
            requested_by = request.get("requested_by")
    return values, waiting, requested_by if isinstance(requested_by, str) else None


async def _check(caller: Caller, thread_id: str, answer: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The thread (owner, assistant) when ``caller`` may give ``answer`` there; :class:`ApprovalRefused` if not."""
    if await asyncio.to_thread(approval_queue().get, thread_id) is None:
        raise ApprovalRefused("thread_id", f"no approval waits on thread {thread_id!r}", 404)
    thread = await thread_info(thread_id)
    if thread is None or not thread.get("owner"):
        raise ApprovalRefused("thread_id", f"no approval waits on thread {thread_id!r}", 404)
    values, waiting, requested_by = await _waiting(thread_id)
    if not waiting:
        raise ApprovalRefused("thread_id", f"thread {thread_id!r} no longer waits for a decision", 409)
    problem = four_eyes_problem(caller, parse_approval(answer), requested_by,
                                production=get_settings().env == "production")  # fmt: skip
    if problem is not None:
        raise ApprovalRefused(problem.field, problem.message, problem.status)
    if thread.get("graph_id") == "versioned_workflow":  # its waiting step must be an approval, not another kind
        from graphs.versioned_resume import check_versioned_resume

        try:
            handler = await asyncio.to_thread(check_versioned_resume, values, waiting, answer)
        except InvalidInputError as exc:
            raise ApprovalRefused("thread_id", str(exc), 409) from None
        if handler != "approval":
            raise ApprovalRefused("thread_id", f"thread {thread_id!r} waits for a {handler!r}, not an approval", 409)
    return thread, requested_by


def _interrupts(result: object) -> list[dict[str, Any]]:
    found = result.get("__interrupt__") if isinstance(result, dict) else None
    return [i for i in found or [] if isinstance(i, dict) and isinstance(i.get("value"), dict)]


async def decide(request: Request) -> JSONResponse:
    """Approve or reject the run waiting on a thread, as the authenticated approver (four eyes), and resume it."""
    thread_id = str(request.path_params["thread_id"])
    try:
        caller = require_role(request, "approver", "decide approvals")
        answer = _answer(await request.body())
        thread, requested_by = await _check(caller, thread_id, answer)
    except TradeflowError as exc:
        return _refusal(exc)
    queue = approval_queue()
    token = await asyncio.to_thread(queue.claim, thread_id, str(thread["owner"]), caller, answer)
    if token is None:
        return _refusal(ApprovalRefused("thread_id", "another approver is deciding this approval", 409))
    assistant_id = str(thread.get("assistant_id") or thread.get("graph_id"))
    try:
        status, result = await delegated_resume(token, thread_id, assistant_id, answer)
    except Exception:
        await asyncio.to_thread(queue.release, token)
        raise
    failed = status >= 400 or (isinstance(result, dict) and "__error__" in result)
    if failed:
        await asyncio.to_thread(queue.release, token)
        logger.warning("resume of approved thread %s failed (%s): %s", thread_id, status, result)
        error = result.get("detail") or result.get("__error__") if isinstance(result, dict) else result
        return JSONResponse({"error": f"the resume failed: {error}", "field": None},
                            status_code=status if status >= 400 else 502)  # fmt: skip
    asked_again = [i.get("value", {}).get("problem") for i in _interrupts(result)]
    if any(asked_again):  # the graph refused the answer and asks again (it re-announced the approval)
        return JSONResponse({"error": f"the workflow refused the answer: {asked_again[0]}", "field": None},
                            status_code=409)  # fmt: skip
    decision = "approved" if answer["approved"] else "rejected"
    logger.info("%s %s thread %s (started by %s)", caller.identity, decision, thread_id, requested_by)
    return JSONResponse({"thread_id": thread_id, "decision": decision, "approver": caller.identity,
                         "requested_by": requested_by, "result": result})  # fmt: skip


routes = [
    Route("/approvals", list_approvals, methods=["GET"]),
    Route("/approvals/{thread_id}", decide, methods=["POST"]),
]
