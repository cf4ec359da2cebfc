"""Sorting an attempt's exception into an :class:`ErrorClass` (the only place that inspects client errors).

The client libraries are never imported here: an exception of openai's, ollama's, httpx's or httpx2's types can
only exist once that library is loaded (by the client that raised it), so each check looks the library up in
``sys.modules`` and skips it when it is absent. Start-up pays for none of them.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from typing import Any

from router.errors import AttemptError, ErrorClass

_CONTEXT_MARKERS = ("context_length_exceeded", "maximum context length", "context length", "context window")
_POLICY_MARKERS = ("content_policy", "content_filter", "content management policy", "safety system")
_STATED_LIMIT = re.compile(r"(?:maximum context length|context (?:length|window))(?: of| is)? (\d[\d,]*)", re.I)
_REQUESTED = re.compile(r"(?:you )?requested (\d[\d,]*) tokens", re.I)
# openai's client runs on httpx2, ollama's on httpx: the same failures come as either family.
_HTTP_LIBRARIES = ("httpx", "httpx2")


def _types(attribute: str, *extra: type[BaseException]) -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = list(extra)
    for name in _HTTP_LIBRARIES:
        module = sys.modules.get(name)
        if module is not None:
            found.append(getattr(module, attribute))
    return tuple(found)


def _number(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    return int(match.group(1).replace(",", "")) if match else None


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
        return AttemptError(ErrorClass.CONTEXT_LENGTH, text, stated_limit=_number(_STATED_LIMIT, text),
                            requested_tokens=_number(_REQUESTED, text))  # fmt: skip
    if any(marker in lowered for marker in _POLICY_MARKERS):
        return AttemptError(ErrorClass.CONTENT_POLICY, text)
    return AttemptError(ErrorClass.BAD_REQUEST, f"HTTP {status}: {text}")


def _transport(exc: BaseException, *, started: bool) -> AttemptError | None:
    if isinstance(exc, _types("ConnectTimeout")):
        return AttemptError(ErrorClass.CONNECT_TIMEOUT, "no connection within the connect limit")
    if isinstance(exc, _types("TimeoutException")):
        kind = ErrorClass.STREAM_IDLE_TIMEOUT if started else ErrorClass.FIRST_TOKEN_TIMEOUT
        return AttemptError(kind, "read timed out")
    if isinstance(exc, _types("RemoteProtocolError") + _types("ReadError")):
        if started:
            return AttemptError(ErrorClass.STREAM_BROKEN, f"stream cut: {exc}")
        return AttemptError(ErrorClass.CONNECTION, f"connection dropped: {exc}")
    if isinstance(exc, _types("ConnectError", ConnectionError)):
        return AttemptError(ErrorClass.CONNECT_REFUSED, f"cannot connect: {exc}")
    return None


def classify(exc: BaseException, *, started: bool) -> AttemptError:
    """Classify an exception raised during an attempt; ``started`` means a chunk had already arrived."""
    if isinstance(exc, AttemptError):
        return exc
    openai: Any = sys.modules.get("openai")
    ollama: Any = sys.modules.get("ollama")
    if openai is not None and isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        code = str(body.get("code") or "")
        message = str(body.get("message") or exc.message)
        return _from_status(exc.status_code, f"{code} {message}".strip(), exc.response.headers)
    if ollama is not None and isinstance(exc, ollama.ResponseError):
        return _from_status(exc.status_code, str(exc.error), None)
    if openai is not None and isinstance(exc, openai.APIConnectionError):
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
    if openai is not None and isinstance(exc, openai.APIError):
        return AttemptError(ErrorClass.STREAM_BROKEN, f"{type(exc).__name__}: {exc}")
    raise exc
