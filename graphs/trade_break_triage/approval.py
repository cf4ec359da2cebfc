"""Parsing of the approver's answer to the triage interrupt."""

from __future__ import annotations

from dataclasses import dataclass

from graphs.errors import InvalidInputError


@dataclass(frozen=True)
class ApprovalAnswer:
    """A validated answer to the approval interrupt."""

    approved: bool
    approver: str
    comment: str


def parse_approval(value: object) -> ApprovalAnswer:
    """Validate a resume value; the error names the field that is wrong."""
    problems: list[tuple[str, str]] = []
    if not isinstance(value, dict):
        raise InvalidInputError(
            "trade_break_triage", [("resume", f"expected an object with approved and approver, got {value!r}")]
        )
    approved = value.get("approved")
    approver = value.get("approver")
    comment = value.get("comment", "")
    if not isinstance(approved, bool):
        problems.append(("resume.approved", f"expected true or false, got {approved!r}"))
    if not isinstance(approver, str) or not approver.strip():
        problems.append(("resume.approver", "expected the approver's name"))
    if not isinstance(comment, str):
        problems.append(("resume.comment", f"expected text, got {comment!r}"))
    extra = sorted(set(value) - {"approved", "approver", "comment"})
    problems.extend((f"resume.{key}", "unexpected field") for key in extra)
    if problems:
        raise InvalidInputError("trade_break_triage", problems)
    assert isinstance(approved, bool)
    assert isinstance(approver, str)
    assert isinstance(comment, str)
    return ApprovalAnswer(approved=approved, approver=approver.strip(), comment=comment)
