"""The resume of a ``versioned_workflow`` run, checked against the approval step it waits at.

Each approval step of a spec names its resume handler (``approval``, ``acknowledge``, ...), so what a valid
answer looks like depends on the version the thread resolved and on the step it waits at. The thread's
state says both: ``workflow`` and ``version`` (resolved once, checkpointed) and the pending interrupt's
request, which carries its handler's instructions and the step's request fields. The check runs before
a run exists: the API's auth hook (``graphs.api_auth``) and ``tradeflow run --resume`` call it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graphs.errors import InvalidInputError
from graphs.versioning_service import service
from graphs.workflows import registry
from versioning.errors import ResumeError, VersioningError
from versioning.spec import ApprovalStep
from versioning.tools import ResumeHandler

VERSIONED = "versioned_workflow"
_ADDED = {"instructions", "problem"}
"""Keys the approval node adds to a step's request (the problem is shown when an answer is asked again)."""


def waiting_handler(values: Mapping[str, Any], waiting: Sequence[object]) -> tuple[str, ResumeHandler]:
    """The step a versioned thread waits at and its handler; an error when it waits at none."""
    workflow, version = values.get("workflow"), values.get("version")
    requests = [w for w in waiting if isinstance(w, Mapping)]
    if not isinstance(workflow, str) or not isinstance(version, int) or not requests:
        raise InvalidInputError(VERSIONED, [("resume", "this thread is not waiting at an approval step")])
    try:
        spec = service().resolver.compiled(workflow, version).spec
    except VersioningError as exc:
        raise InvalidInputError(VERSIONED, [("resume", f"cannot read the version this thread runs: {exc}")]) from None
    handlers = registry().resume_handlers
    request = requests[0]
    for step in spec.steps:
        if not isinstance(step, ApprovalStep) or step.resume not in handlers:
            continue
        handler = handlers[step.resume]
        if handler.instructions == request.get("instructions") and set(request) - _ADDED <= set(step.request):
            return step.id, handler
    raise InvalidInputError(
        VERSIONED, [("resume", f"{workflow} v{version} has no approval step that asked {sorted(request)}")]
    )


def check_versioned_resume(values: Mapping[str, Any], waiting: Sequence[object], resume: object) -> str:
    """Check ``resume`` with the waiting step's handler's shape check (no side effects); the handler's name.

    Git reads and a compile: call from a worker thread.
    """
    step, handler = waiting_handler(values, waiting)
    if handler.check is None:
        return handler.name
    try:
        handler.check(resume)
    except (ResumeError, InvalidInputError) as exc:
        problems = list(exc.problems) or [("resume", str(exc))]
        raise InvalidInputError(
            VERSIONED,
            [(field, f"{message} (step {step!r}, handler {handler.name!r})") for field, message in problems],
            what="resume",
        ) from None
    return handler.name
