"""Errors of the router, and the classes every backend failure is sorted into.

Hierarchy::

    TradeflowError (core.errors)
    └── RouterError                    base for everything in ``router``; ``decision`` is the call's record
        ├── RouterConfigError          the backend table is invalid (names entry and field)
        ├── SpendStoreError            the spend ledger's database cannot be used
        ├── NoEligibleBackendError     every backend was excluded; carries the reasons
        ├── BudgetExceededError        the workflow's daily spend limit leaves no backend affordable
        ├── ContentPolicyError         the provider refused the content; carries its reason
        ├── StreamInterruptedError     a stream failed after tokens reached the caller
        └── AllBackendsFailedError     every attempt failed; carries the decision record

Retry decisions are made from :class:`ErrorClass`, never from exception types elsewhere. Every error a routed
call ends with carries that call's :class:`~router.record.DecisionRecord` in ``decision`` (None only for errors
raised before a call began, such as a bad table), so analytics records failed calls attempt by attempt.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from core.errors import TradeflowError

if TYPE_CHECKING:
    from router.record import DecisionRecord, Usage


class ErrorClass(StrEnum):
    """What went wrong with one attempt, as far as routing is concerned."""

    RATE_LIMIT = "rate_limit"
    """429: back off (honouring Retry-After) then fail over."""
    SERVER_ERROR = "server_error"
    """5xx: retry once on the same backend, then fail over."""
    CONNECTION = "connection"
    """Connection reset or dropped before an answer: retry once, then fail over."""
    CONNECT_REFUSED = "connect_refused"
    """Nothing listens (the backend is down): fail over at once and open its breaker."""
    CONNECT_TIMEOUT = "connect_timeout"
    """No connection within the connect limit: fail over, no retry on the same route."""
    FIRST_TOKEN_TIMEOUT = "first_token_timeout"
    """Connected but silent past the time-to-first-token limit: fail over, no retry."""
    STREAM_IDLE_TIMEOUT = "stream_idle_timeout"
    """A stream stalled past the idle limit: fail over, no retry."""
    STREAM_BROKEN = "stream_broken"
    """A stream was cut, malformed or ended without finishing: fail over."""
    CONTEXT_LENGTH = "context_length"
    """The prompt does not fit: only a larger-context backend may take it."""
    CONTENT_POLICY = "content_policy"
    """The provider refused the content: no retry on that model; its reason reaches the caller."""
    AUTH = "auth"
    """401/403: the backend's key is wrong; fail over, open its breaker."""
    BAD_REQUEST = "bad_request"
    """Any other 4xx: the request itself is wrong; do not retry anywhere."""


class RouterError(TradeflowError):
    """Base class of errors raised in ``router``."""

    decision: DecisionRecord | None = None
    """The decision record of the routed call that ended with this error (every attempt, each one's cost)."""


class RouterConfigError(RouterError):
    """The backend table or router settings are invalid."""


class SpendStoreError(RouterError):
    """The spend ledger's database cannot be read or written (budgets cannot be enforced)."""


class NoEligibleBackendError(RouterError):
    """Every backend was excluded for this request."""

    def __init__(self, reasons: dict[str, str]) -> None:
        self.reasons = reasons
        detail = "; ".join(f"{name}: {why}" for name, why in reasons.items()) or "the backend table is empty"
        super().__init__(f"no backend can take this request ({detail})")


class BudgetExceededError(RouterError):
    """The workflow's daily budget leaves no backend within reach."""


class ContentPolicyError(RouterError):
    """The provider refused the content; ``reason`` is the provider's own words."""

    def __init__(self, backend: str, reason: str) -> None:
        self.backend = backend
        self.reason = reason
        super().__init__(f"{backend} refused the request on content policy: {reason}")


class StreamInterruptedError(RouterError):
    """A stream failed after tokens had been passed to the caller; the partial answer is not a success."""


class AllBackendsFailedError(RouterError):
    """Every attempt failed; ``decision`` holds each attempt and its error class."""

    def __init__(self, message: str, decision: DecisionRecord) -> None:
        self.decision: DecisionRecord | None = decision
        super().__init__(message)


class AttemptError(RouterError):
    """One failed attempt, classified (internal: the router turns these into decisions)."""

    def __init__(
        self,
        error_class: ErrorClass,
        message: str,
        *,
        retry_after_s: float | None = None,
        emitted: bool = False,
        stated_limit: int | None = None,
        requested_tokens: int | None = None,
    ) -> None:
        self.error_class = error_class
        self.retry_after_s = retry_after_s
        self.emitted = emitted
        self.stated_limit = stated_limit
        """For ``context_length``: the context window the provider says the model has."""
        self.requested_tokens = requested_tokens
        """For ``context_length``: the tokens the provider says the request needs."""
        self.usage: Usage | None = None
        """Tokens the failed attempt consumed before it failed (billed), when any arrived."""
        super().__init__(f"{error_class}: {message}")
