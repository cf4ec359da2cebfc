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


FOUR_EYES_INSTRUCTIONS = (
    'Resume with {"approved": true or false, "approver": "<name>", "checker": "<a second person>", '
    '"comment": "<optional>"}.'
)


def record_four_eyes(value: object) -> dict[str, Any]:
    """A decision taken by two people (maker and checker), for breaks a desk's policy wants four eyes on."""
    if not isinstance(value, dict):
        raise ResumeError([("resume", f"expected an object with approved, approver and checker, got {value!r}")])
    problems: list[tuple[str, str]] = []
    checker = value.get("checker")
    try:
        answer = parse_approval({k: v for k, v in value.items() if k != "checker"})
    except InvalidInputError as exc:
        problems += exc.problems
        answer = None
    if not isinstance(checker, str) or not checker.strip():
        problems.append(("resume.checker", "expected the checker's name (a second person)"))
    elif answer is not None and checker.strip() == answer.approver:
        problems.append(("resume.checker", "must be someone other than the approver (four eyes)"))
    if problems or answer is None or not isinstance(checker, str):
        raise ResumeError(problems)
    return {
        "decision": "approved" if answer.approved else "rejected",
        "approver": answer.approver,
        "checker": checker.strip(),
        "approval_comment": answer.comment,
    }


def auto_approve(state: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Approve a break below the threshold by policy."""
    return {"decision": "auto_approved", "approver": "system", "approval_comment": "below approval threshold"}


def record_outcome(state: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Turn the decision into the triage outcome."""
    approved = state["decision"] in ("approved", "auto_approved")
    return {"status": "resolution_approved" if approved else "resolution_rejected"}
