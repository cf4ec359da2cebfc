"""An acknowledgement step's answer: a person confirms they have read what the workflow shows them.

For steps that need a named reader rather than a decision (a desk head acknowledging the day's ranked
reconciliation breaks, say). The reader is the authenticated caller, as for approvals; the answer is
``{"acknowledged": true, "comment": "<optional>"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphs.trade_break_triage.tools import current_caller
from versioning.errors import ResumeError

INSTRUCTIONS = 'Resume with {"acknowledged": true, "comment": "<optional>"}; you are recorded as the reader.'


def parse_acknowledgement(value: object) -> str:
    """The comment of a valid acknowledgement; a :class:`ResumeError` names each bad field."""
    if not isinstance(value, dict):
        raise ResumeError([("resume", f"expected an object with acknowledged (and a comment), got {value!r}")])
    problems: list[tuple[str, str]] = []
    if value.get("acknowledged") is not True:
        problems.append(("resume.acknowledged", f"expected true, got {value.get('acknowledged')!r}"))
    comment = value.get("comment", "")
    if not isinstance(comment, str):
        problems.append(("resume.comment", f"expected text, got {comment!r}"))
    problems += [(f"resume.{key}", "unexpected field") for key in sorted(set(value) - {"acknowledged", "comment"})]
    if problems:
        raise ResumeError(problems)
    return str(comment)


def record_acknowledgement(value: object, state: Mapping[str, Any]) -> dict[str, Any]:
    """Who acknowledged (the authenticated caller) and their comment."""
    comment = parse_acknowledgement(value)
    return {"acknowledged_by": current_caller().identity, "acknowledgement_comment": comment}
