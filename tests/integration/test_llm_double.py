"""The LLM server double speaks the OpenAI and Ollama wire formats the real clients expect."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, SecretStr

from tests.conftest import MODEL
from tests.doubles.llm_server import Behaviour, LLMServerDouble


@pytest.fixture
async def connections() -> AsyncIterator[tuple[httpx.AsyncBaseTransport, object]]:
    """Connection pools for the clients a test makes, closed when it ends (not the libraries' shared ones)."""
    ollama, openai_http = httpx.AsyncHTTPTransport(), openai.DefaultAsyncHttpxClient()
    yield ollama, openai_http
    await ollama.aclose()
    await openai_http.aclose()


@pytest.fixture
def openai_chat(llm_double: LLMServerDouble, connections: tuple[object, object]) -> Callable[..., ChatOpenAI]:
    def make(double: LLMServerDouble, model: str = MODEL, **kwargs: object) -> ChatOpenAI:
        return ChatOpenAI(model=model, api_key=SecretStr("k"), base_url=double.openai_base_url, max_retries=0,
                          http_async_client=connections[1], **kwargs)  # fmt: skip

    return make


@pytest.fixture
def ollama_chat(llm_double: LLMServerDouble, connections: tuple[object, object]) -> Callable[[], ChatOllama]:
    return lambda: ChatOllama(model=MODEL, base_url=llm_double.ollama_base_url,
                              async_client_kwargs={"transport": connections[0]})  # fmt: skip


class Verdict(BaseModel):
    label: str
    score: float
    tags: list[str]


async def test_openai_json_answer_is_deterministic_with_usage(
    llm_double: LLMServerDouble, openai_chat: Callable[..., ChatOpenAI]
) -> None:
    chat = openai_chat(llm_double)
    first = await chat.ainvoke([HumanMessage("summarise the desk")])
    second = await chat.ainvoke([HumanMessage("summarise the desk")])
    other = await chat.ainvoke([HumanMessage("something else")])
    assert first.text == second.text != other.text
    assert first.usage_metadata is not None
    assert first.usage_metadata["input_tokens"] == len(llm_double.requests[0].prompt.split()) == 4
    assert first.usage_metadata["output_tokens"] == len(first.text.split())
    assert first.response_metadata["model_name"] == MODEL


async def test_openai_streaming_reports_usage(
    llm_double: LLMServerDouble, openai_chat: Callable[..., ChatOpenAI]
) -> None:
    chat = openai_chat(llm_double, stream_usage=True)
    chunks = [chunk async for chunk in chat.astream([HumanMessage("stream please")])]
    text = "".join(str(c.content) for c in chunks)
    full = await openai_chat(llm_double).ainvoke([HumanMessage("stream please")])
    assert len(chunks) > 5
    assert text == full.text
    usage = [c.usage_metadata for c in chunks if c.usage_metadata]
    assert usage
    assert usage[-1]["output_tokens"] == len(text.split())
    assert llm_double.requests[0].stream is True


@pytest.mark.parametrize("client", ["openai", "ollama"])
async def test_structured_output_matches_schema(
    llm_double: LLMServerDouble,
    client: str,
    openai_chat: Callable[..., ChatOpenAI],
    ollama_chat: Callable[[], ChatOllama],
) -> None:
    base = openai_chat(llm_double) if client == "openai" else ollama_chat()
    verdict = await base.with_structured_output(Verdict, method="json_schema").ainvoke([HumanMessage("rate it")])
    assert isinstance(verdict, Verdict)
    assert 0 <= verdict.score <= 1
    assert verdict.tags


async def test_ollama_streams_ndjson_with_counts(
    llm_double: LLMServerDouble, ollama_chat: Callable[[], ChatOllama]
) -> None:
    chat = ollama_chat()
    chunks = [c async for c in chat.astream([HumanMessage("hello ollama")])]
    assert len(chunks) > 5
    usage = [c.usage_metadata for c in chunks if c.usage_metadata]
    assert usage
    assert usage[-1]["input_tokens"] == len("user: hello ollama".split())


def test_discovery_and_health_endpoints(llm_double: LLMServerDouble) -> None:
    base = llm_double.base_url
    assert MODEL in [m["id"] for m in httpx.get(f"{base}/v1/models").json()["data"]]
    assert MODEL in [m["name"] for m in httpx.get(f"{base}/api/tags").json()["models"]]
    assert MODEL in [m["name"] for m in httpx.get(f"{base}/api/ps").json()["models"]]
    assert httpx.get(f"{base}/health").status_code == 200
    llm_double.healthy = False
    assert httpx.get(f"{base}/health").status_code == 503


def _post(double: LLMServerDouble, stream: bool, timeout: float = 5.0) -> httpx.Response:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return httpx.post(f"{double.openai_base_url}/chat/completions", json=body, timeout=timeout)


def test_status_fault_with_retry_after_then_recovers(llm_double: LLMServerDouble) -> None:
    llm_double.set_behaviour(MODEL, Behaviour(fault="status", status=429, retry_after=2, times=1))
    first = _post(llm_double, stream=False)
    assert first.status_code == 429
    assert first.headers["retry-after"] == "2"
    assert first.json()["error"]["code"] == "rate_limit_exceeded"
    assert _post(llm_double, stream=False).status_code == 200


def test_status_fault_without_retry_after(llm_double: LLMServerDouble) -> None:
    llm_double.set_behaviour(MODEL, Behaviour(fault="status", status=503))
    response = _post(llm_double, stream=False)
    assert response.status_code == 503
    assert "retry-after" not in response.headers


@pytest.mark.parametrize(
    ("fault", "code"), [("context_length", "context_length_exceeded"), ("content_policy", "content_policy_violation")]
)
async def test_request_faults_reach_the_openai_client(
    llm_double: LLMServerDouble, fault: str, code: str, openai_chat: Callable[..., ChatOpenAI]
) -> None:
    llm_double.set_behaviour(MODEL, Behaviour(fault=fault))  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError) as info:
        await openai_chat(llm_double).ainvoke([HumanMessage("x")])
    assert info.value.code == code


def test_connection_reset(llm_double: LLMServerDouble) -> None:
    llm_double.set_behaviour(MODEL, Behaviour(fault="reset"))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
        _post(llm_double, stream=False)


def test_never_answering_times_out(llm_double: LLMServerDouble) -> None:
    llm_double.set_behaviour(MODEL, Behaviour(fault="hang"))
    with pytest.raises(httpx.ReadTimeout):
        _post(llm_double, stream=False, timeout=0.5)


def test_slow_first_token(llm_double: LLMServerDouble) -> None:
    llm_double.set_behaviour(MODEL, Behaviour(fault="slow_first_token", first_token_delay_s=2.0))
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    started = time.monotonic()
    with httpx.stream("POST", f"{llm_double.openai_base_url}/chat/completions", json=body) as response:
        headers_at = time.monotonic() - started
        first_line = next(line for line in response.iter_lines() if line)
        first_at = time.monotonic() - started
    # The status line comes at once; the first token only after the delay (bounds generous for a loaded machine).
    assert first_at >= 2.0
    assert first_at - headers_at >= 1.0
    assert first_line.startswith("data: ")


def _sse_lines(double: LLMServerDouble, timeout: float = 5.0) -> list[str]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    lines: list[str] = []
    with httpx.stream("POST", f"{double.openai_base_url}/chat/completions", json=body, timeout=timeout) as r:
        for line in r.iter_lines():
            if line:
                lines.append(line)
    return lines


def test_healthy_stream_ends_with_done(llm_double: LLMServerDouble) -> None:
    assert _sse_lines(llm_double)[-1] == "data: [DONE]"


def test_stream_cut_breaks_the_body(llm_double: LLMServerDouble) -> None:
    llm_double.set_behaviour(MODEL, Behaviour(fault="stream_cut"))
    with pytest.raises(httpx.RemoteProtocolError):
        _sse_lines(llm_double)


def test_stream_stall_trips_a_read_timeout(llm_double: LLMServerDouble) -> None:
    llm_double.set_behaviour(MODEL, Behaviour(fault="stall", stall_s=3))
    with pytest.raises(httpx.ReadTimeout):
        _sse_lines(llm_double, timeout=0.5)


def test_malformed_chunk_is_not_json(llm_double: LLMServerDouble) -> None:
    llm_double.set_behaviour(MODEL, Behaviour(fault="malformed_chunk"))
    payloads = [line.removeprefix("data: ") for line in _sse_lines(llm_double) if line != "data: [DONE]"]
    broken = []
    for payload in payloads:
        try:
            json.loads(payload)
        except json.JSONDecodeError:
            broken.append(payload)
    assert len(broken) == 1


def test_missing_done(llm_double: LLMServerDouble) -> None:
    llm_double.set_behaviour(MODEL, Behaviour(fault="missing_done"))
    lines = _sse_lines(llm_double)
    assert "data: [DONE]" not in lines
    assert lines


def test_latency_is_per_model(llm_double: LLMServerDouble) -> None:
    llm_double.set_behaviour("slow-model", Behaviour(latency_s=1.5))
    started = time.monotonic()
    _post(llm_double, stream=False)
    fast = time.monotonic() - started
    body = {"model": "slow-model", "messages": [{"role": "user", "content": "hi"}]}
    started = time.monotonic()
    httpx.post(f"{llm_double.openai_base_url}/chat/completions", json=body, timeout=10)
    slow = time.monotonic() - started
    assert slow >= 1.5
    assert slow - fast >= 1.0  # only the slow model waits (a generous bound for a loaded machine)
