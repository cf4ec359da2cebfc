"""Every client failure maps to one error class."""

from __future__ import annotations

import httpx
import httpx2
import ollama
import openai
import pytest

from router.classify import classify
from router.errors import ErrorClass


def _status(status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> openai.APIStatusError:
    request = httpx2.Request("POST", "http://x/v1/chat/completions")
    response = httpx2.Response(status, json={"error": body}, headers=headers or {}, request=request)
    return openai.OpenAI(api_key="k", base_url="http://x/v1")._make_status_error_from_response(response)


def test_rate_limit_keeps_retry_after() -> None:
    error = classify(_status(429, {"message": "slow down", "code": "rate_limit_exceeded"}, {"retry-after": "1.5"}),
                     started=False)  # fmt: skip
    assert (error.error_class, error.retry_after_s) == (ErrorClass.RATE_LIMIT, 1.5)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (500, {"message": "boom"}, ErrorClass.SERVER_ERROR),
        (503, {"message": "overloaded"}, ErrorClass.SERVER_ERROR),
        (401, {"message": "bad key"}, ErrorClass.AUTH),
        (400, {"message": "too long", "code": "context_length_exceeded"}, ErrorClass.CONTEXT_LENGTH),
        (400, {"message": "filtered", "code": "content_policy_violation"}, ErrorClass.CONTENT_POLICY),
        (400, {"message": "bad field", "code": "invalid_value"}, ErrorClass.BAD_REQUEST),
    ],
)
def test_status_errors(status: int, body: dict[str, object], expected: ErrorClass) -> None:
    assert classify(_status(status, body), started=False).error_class is expected


def test_content_policy_keeps_the_provider_reason() -> None:
    error = classify(_status(400, {"message": "The prompt triggered the content management policy."}), started=False)
    assert error.error_class is ErrorClass.CONTENT_POLICY
    assert "content management policy" in str(error)


@pytest.mark.parametrize(
    ("exc", "started", "expected"),
    [
        (httpx.ConnectError("refused"), False, ErrorClass.CONNECT_REFUSED),
        (httpx2.ConnectError("refused"), False, ErrorClass.CONNECT_REFUSED),
        (httpx.ConnectTimeout("slow"), False, ErrorClass.CONNECT_TIMEOUT),
        (httpx.ReadTimeout("quiet"), False, ErrorClass.FIRST_TOKEN_TIMEOUT),
        (httpx.ReadTimeout("quiet"), True, ErrorClass.STREAM_IDLE_TIMEOUT),
        (httpx2.RemoteProtocolError("peer closed"), False, ErrorClass.CONNECTION),
        (httpx2.RemoteProtocolError("incomplete chunked read"), True, ErrorClass.STREAM_BROKEN),
        (ValueError("Expecting value"), True, ErrorClass.STREAM_BROKEN),
    ],
)
def test_transport_errors(exc: BaseException, started: bool, expected: ErrorClass) -> None:
    assert classify(exc, started=started).error_class is expected


def test_openai_connection_error_is_classified_by_its_cause() -> None:
    error = openai.APITimeoutError(request=httpx2.Request("POST", "http://x"))
    error.__cause__ = httpx2.ConnectTimeout("connect timed out")
    assert classify(error, started=False).error_class is ErrorClass.CONNECT_TIMEOUT


def test_ollama_errors() -> None:
    assert classify(ollama.ResponseError("busy", 429), started=False).error_class is ErrorClass.RATE_LIMIT
    assert classify(ollama.ResponseError("model crashed", 500), started=False).error_class is ErrorClass.SERVER_ERROR


def test_unknown_exceptions_are_not_swallowed() -> None:
    with pytest.raises(ZeroDivisionError):
        classify(ZeroDivisionError(), started=False)
