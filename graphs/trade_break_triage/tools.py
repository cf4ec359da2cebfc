"""The triage workflow's tool steps and its approval handler (the flow is ``workflows/trade_break_triage.yaml``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphs.errors import InvalidInputError
from graphs.trade_break_triage.approval import parse_approval
from versioning.errors import ResumeError

APPROVAL_INSTRUCTIONS = 'Resume with {"approved": true or false, "approver": "<name>", "comment": "<optional>"}.'


def record_approval(value: object) -> dict[str, Any]:
    """A human's answer as the decision, the approver and their comment; names each bad field."""
    try:
        answer = parse_approval(value)
    except InvalidInputError as exc:
        raise ResumeError(exc.problems) from None
    return {
        "decision": "approved" if answer.approved else "rejected",
        "approver": answer.approver,
        "approval_comment": answer.comment,
    }


def auto_approve(state: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Approve a break below the threshold by policy."""
    return {"decision": "auto_approved", "approver": "system", "approval_comment": "below approval threshold"}


def record_outcome(state: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Turn the decision into the triage outcome."""
    approved = state["decision"] in ("approved", "auto_approved")
    return {"status": "resolution_approved" if approved else "resolution_rejected"}
