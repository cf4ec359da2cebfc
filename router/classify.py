"""Sorting an attempt's exception into an :class:`ErrorClass` (the only place that inspects client errors)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx
import httpx2
import ollama
import openai

from router.errors import AttemptError, ErrorClass

_CONTEXT_MARKERS = ("context_length_exceeded", "maximum context length", "context length", "context window")
_POLICY_MARKERS = ("content_policy", "content_filter", "content management policy", "safety system")


# openai's client runs on httpx2, ollama's on httpx: the same failures come as either family.
_CONNECT_TIMEOUT = (httpx.ConnectTimeout, httpx2.ConnectTimeout)
_TIMEOUT = (httpx.TimeoutException, httpx2.TimeoutException)
_DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx2.RemoteProtocolError, httpx2.ReadError)
_REFUSED = (httpx.ConnectError, httpx2.ConnectError, ConnectionError)


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    if headers is None:
        return None
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        return None


def _from_status(status: int, text: str, headers: Mapping[str, str] | None) -> AttemptError:
    lowered = text.lower()
    if status == 429:
        return AttemptError(ErrorClass.RATE_LIMIT, text, retry_after_s=_retry_after(headers))
    if status in (401, 403):
        return AttemptError(ErrorClass.AUTH, f"HTTP {status}")
    if status >= 500 or status == 408:
        return AttemptError(ErrorClass.SERVER_ERROR, f"HTTP {status}: {text}")
    if any(marker in lowered for marker in _CONTEXT_MARKERS):
        return AttemptError(ErrorClass.CONTEXT_LENGTH, text)
    if any(marker in lowered for marker in _POLICY_MARKERS):
        return AttemptError(ErrorClass.CONTENT_POLICY, text)
    return AttemptError(ErrorClass.BAD_REQUEST, f"HTTP {status}: {text}")


def _transport(exc: BaseException, *, started: bool) -> AttemptError | None:
    if isinstance(exc, _CONNECT_TIMEOUT):
        return AttemptError(ErrorClass.CONNECT_TIMEOUT, "no connection within the connect limit")
    if isinstance(exc, _TIMEOUT):
        kind = ErrorClass.STREAM_IDLE_TIMEOUT if started else ErrorClass.FIRST_TOKEN_TIMEOUT
        return AttemptError(kind, "read timed out")
    if isinstance(exc, _DROPPED):
        if started:
            return AttemptError(ErrorClass.STREAM_BROKEN, f"stream cut: {exc}")
        return AttemptError(ErrorClass.CONNECTION, f"connection dropped: {exc}")
    if isinstance(exc, _REFUSED):
        return AttemptError(ErrorClass.CONNECT_REFUSED, f"cannot connect: {exc}")
    return None


def classify(exc: BaseException, *, started: bool) -> AttemptError:
    """Classify an exception raised during an attempt; ``started`` means a chunk had already arrived."""
    if isinstance(exc, AttemptError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        code = str(body.get("code") or "")
        message = str(body.get("message") or exc.message)
        return _from_status(exc.status_code, f"{code} {message}".strip(), exc.response.headers)
    if isinstance(exc, ollama.ResponseError):
        return _from_status(exc.status_code, str(exc.error), None)
    if isinstance(exc, openai.APIConnectionError):
        # langchain-openai wraps openai's error, which wraps httpx2's: the transport error decides.
        cause = exc.__cause__ or exc.__context__
        while cause is not None:
            found = _transport(cause, started=started)
            if found is not None:
                return found
            cause = cause.__cause__ or cause.__context__
        if isinstance(exc, openai.APITimeoutError):
            return AttemptError(ErrorClass.FIRST_TOKEN_TIMEOUT, "request timed out")
        return AttemptError(ErrorClass.CONNECTION, str(exc))
    found = _transport(exc, started=started)
    if found is not None:
        return found
    if isinstance(exc, (json.JSONDecodeError, ValueError, KeyError, TypeError)):
        return AttemptError(ErrorClass.STREAM_BROKEN, f"malformed response: {type(exc).__name__}: {exc}")
    if isinstance(exc, openai.APIError):
        return AttemptError(ErrorClass.STREAM_BROKEN, f"{type(exc).__name__}: {exc}")
    raise exc
