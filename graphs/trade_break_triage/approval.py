"""The approver's answer to the triage interrupt, and the four-eyes rule every answer must pass.

The approver is whoever the server authenticated for the resume (never a name in the payload); they must
hold the ``approver`` role and must not be the identity that started the run. The one exception is a laptop
with no key configured (every request is ``local``, in development): there is only one person, and the
decision is recorded as such.
"""

from __future__ import annotations

from dataclasses import dataclass

from access.roles import LOCAL, Caller
from graphs.errors import InvalidInputError


@dataclass(frozen=True)
class ApprovalAnswer:
    """A validated answer to the approval interrupt."""

    approved: bool
    comment: str
    approver: str | None = None
    """The name the payload gave, if any: it must be the authenticated identity's own."""


def parse_approval(value: object) -> ApprovalAnswer:
    """Validate a resume value; the error names the field that is wrong."""
    problems: list[tuple[str, str]] = []
    if not isinstance(value, dict):
        raise InvalidInputError(
            "trade_break_triage", [("resume", f"expected an object with approved (and a comment), got {value!r}")]
        )
    approved = value.get("approved")
    approver = value.get("approver")
    comment = value.get("comment", "")
    if not isinstance(approved, bool):
        problems.append(("resume.approved", f"expected true or false, got {approved!r}"))
    if approver is not None and (not isinstance(approver, str) or not approver.strip()):
        problems.append(("resume.approver", "expected your own identity, or leave it out"))
    if not isinstance(comment, str):
        problems.append(("resume.comment", f"expected text, got {comment!r}"))
    extra = sorted(set(value) - {"approved", "approver", "comment"})
    problems.extend((f"resume.{key}", "unexpected field") for key in extra)
    if problems:
        raise InvalidInputError("trade_break_triage", problems)
    assert isinstance(approved, bool)
    assert isinstance(comment, str)
    return ApprovalAnswer(approved=approved, comment=comment, approver=approver.strip() if approver else None)


@dataclass(frozen=True)
class FourEyesProblem:
    """Why a caller may not answer an approval: the field at fault, the message and the HTTP status."""

    field: str
    message: str
    status: int = 403


def four_eyes_problem(
    caller: Caller, answer: ApprovalAnswer, requested_by: str | None, *, production: bool
) -> FourEyesProblem | None:
    """None when ``caller`` may give ``answer`` on a run ``requested_by`` started; else what is wrong."""
    if answer.approver is not None and answer.approver != caller.identity:
        return FourEyesProblem(
            "resume.approver",
            f"names {answer.approver!r} but the request is authenticated as {caller.identity!r}: the approver is "
            "the authenticated identity; leave approver out (or send your own)",
        )
    if not caller.has("approver"):
        return FourEyesProblem(
            "x-api-key", f"{caller.identity!r} (roles: {', '.join(caller.roles) or 'none'}) may not approve: "
            "it needs the approver role",
        )  # fmt: skip
    laptop = caller.identity == LOCAL and not production
    if requested_by is None and not laptop:
        return FourEyesProblem(
            "requested_by", "this run did not record who started it, so four eyes cannot be checked", 409
        )
    if requested_by == caller.identity and not laptop:
        return FourEyesProblem(
            "x-api-key", f"four eyes: {caller.identity!r} started this run and may not approve it; another "
            "identity holding the approver role must",
        )  # fmt: skip
    return None
