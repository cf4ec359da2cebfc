"""Errors of workflow versioning.

Hierarchy::

    TradeflowError (core.errors)
    └── VersioningError                base for everything in ``versioning``
        ├── SpecError                  an invalid spec: each problem names file, line and field
        ├── StoreError                 the Git store could not be read or written
        ├── UnknownWorkflowError       no published workflow with that id
        ├── UnknownVersionError        a version (or label target) that was never published
        ├── LabelError                 a label that cannot be moved or resolved as asked
        ├── ExperimentError            an experiment that cannot be started, ramped or stopped as asked
        ├── ConflictError              a concurrent change won: the label or experiment moved since it was read
        ├── FieldError                 a request field (author, message, ...) that is missing or malformed
        ├── ResolutionError            a run's workflow, label or pin is missing or of the wrong type
        ├── ResumeError                a resume value of the wrong shape (names each field)
        └── StepError                  a step failed at run time (names the step and why)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import TradeflowError


class VersioningError(TradeflowError):
    """Base class of errors raised in ``versioning``."""

    field: str | None = None
    """The request field the error is about, when there is one (HTTP answers carry it)."""


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong with a spec."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}"


class SpecError(VersioningError):
    """A spec that does not validate; nothing is published."""

    def __init__(self, problems: Sequence[SpecProblem]) -> None:
        self.problems = list(problems)
        self.field = self.problems[0].field if self.problems else None
        super().__init__("invalid workflow spec:\n  " + "\n  ".join(str(p) for p in self.problems))


class StoreError(VersioningError):
    """The Git store could not be read or written."""


class UnknownWorkflowError(VersioningError):
    """No published workflow with that id."""

    field = "workflow"


class UnknownVersionError(VersioningError):
    """A version that was never published."""

    field = "version"


class LabelError(VersioningError):
    """A label that cannot be moved or resolved as asked."""

    def __init__(self, message: str, field: str = "label") -> None:
        self.field = field
        super().__init__(message)


class ExperimentError(VersioningError):
    """An experiment that cannot be started, ramped or stopped as asked."""

    def __init__(self, message: str, field: str = "experiment") -> None:
        self.field = field
        super().__init__(message)


class ConflictError(VersioningError):
    """A compare-and-set lost: the label or experiment changed since it was read; nothing was written."""

    def __init__(self, message: str, field: str) -> None:
        self.field = field
        super().__init__(message)


class FieldError(VersioningError):
    """A request field that is missing, too long or holds control characters; names the field."""

    def __init__(self, message: str, field: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class ResolutionError(VersioningError):
    """A run's workflow, label or pinned version is missing or of the wrong type."""

    def __init__(self, message: str, field: str) -> None:
        self.field = field
        super().__init__(message)


class ResumeError(VersioningError):
    """A resume value that does not fit the approval step; names every bad field."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        self.field = self.problems[0][0] if self.problems else "resume"
        super().__init__("; ".join(f"{field}: {message}" for field, message in self.problems))


class StepError(VersioningError):
    """A step failed at run time; the message names the workflow, the step and why."""
