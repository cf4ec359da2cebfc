"""Nodes of the trade-break triage workflow."""

from __future__ import annotations

import json
from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from graphs.chat_models import generate_structured
from graphs.errors import InvalidInputError
from graphs.trade_break_triage import prompts
from graphs.trade_break_triage.approval import parse_approval
from graphs.trade_break_triage.context import TriageContext
from graphs.trade_break_triage.state import ApprovalRequest, Assessment, Proposal, TriageState

WORKFLOW = "trade_break_triage"


def _context(runtime: Runtime[TriageContext]) -> TriageContext:
    return runtime.context or TriageContext()


async def classify_break(state: TriageState, runtime: Runtime[TriageContext]) -> dict[str, Any]:
    """Have the model classify the break and name its likely root cause."""
    messages = [
        SystemMessage(prompts.CLASSIFY_SYSTEM),
        HumanMessage(prompts.BREAK.format(break_json=json.dumps(state["trade_break"], sort_keys=True))),
    ]
    ctx = _context(runtime)
    assessment = await generate_structured(
        Assessment, messages, workflow=WORKFLOW, task_type="classification", strategy=ctx.strategy, backend=ctx.backend
    )
    return {"assessment": assessment.model_dump()}


async def propose_resolution(state: TriageState, runtime: Runtime[TriageContext]) -> dict[str, Any]:
    """Have the model propose a resolution; flag it for approval above the notional threshold."""
    ctx = _context(runtime)
    messages = [
        SystemMessage(prompts.PROPOSE_SYSTEM),
        HumanMessage(
            prompts.CLASSIFIED.format(
                break_json=json.dumps(state["trade_break"], sort_keys=True),
                assessment_json=json.dumps(state["assessment"], sort_keys=True),
            )
        ),
    ]
    proposal = await generate_structured(
        Proposal, messages, workflow=WORKFLOW, task_type="extraction", strategy=ctx.strategy, backend=ctx.backend
    )
    return {
        "proposal": proposal.model_dump(),
        "requires_approval": abs(state["trade_break"]["notional"]) > ctx.approval_threshold,
    }


def route_after_proposal(state: TriageState) -> Literal["request_approval", "auto_approve"]:
    """Large breaks wait for a human; the rest are approved by policy."""
    return "request_approval" if state.get("requires_approval") else "auto_approve"


async def request_approval(state: TriageState, runtime: Runtime[TriageContext]) -> dict[str, Any]:
    """Pause for a human decision; continue with Command(resume={"approved": ..., "approver": ...})."""
    trade_break = state["trade_break"]
    request = ApprovalRequest(
        break_id=trade_break["break_id"],
        notional=trade_break["notional"],
        currency=trade_break["currency"],
        threshold=_context(runtime).approval_threshold,
        category=str(state["assessment"]["category"]),
        proposed_action=str(state["proposal"]["action"]),
        instructions=prompts.APPROVAL_INSTRUCTIONS,
    )
    # An answer that does not parse is asked for again, with the problem shown; raising instead
    # would pin the bad value to this interrupt and every later resume would replay it.
    while True:
        try:
            answer = parse_approval(interrupt(request))
            break
        except InvalidInputError as exc:
            request = ApprovalRequest(**{**request, "problem": str(exc)})
    return {
        "decision": "approved" if answer.approved else "rejected",
        "approver": answer.approver,
        "approval_comment": answer.comment,
    }


async def auto_approve(state: TriageState) -> dict[str, Any]:
    """Approve a break below the threshold by policy."""
    return {"decision": "auto_approved", "approver": "system", "approval_comment": "below approval threshold"}


async def record_outcome(state: TriageState) -> dict[str, Any]:
    """Turn the decision into the triage outcome."""
    approved = state["decision"] in ("approved", "auto_approved")
    return {"status": "resolution_approved" if approved else "resolution_rejected"}
