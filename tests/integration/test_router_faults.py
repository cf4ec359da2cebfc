"""The router against every fault of the LLM double, through the real langchain-openai/ollama clients."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage

from router.config import parse_config
from router.engine import Router
from router.errors import ContentPolicyError, StreamInterruptedError
from router.request import RouteRequest
from tests.doubles.llm_server import Behaviour, LLMServerDouble
from tests.support.prices import price_table

PRIMARY, SECONDARY, LARGE = "m-primary", "m-secondary", "m-large"
PRICES = price_table({PRIMARY: 0.1, SECONDARY: 0.2, LARGE: 5.0})


def _table(double: LLMServerDouble, kind: str = "openai", **overrides: Any) -> dict[str, Any]:
    url = double.openai_base_url if kind != "ollama" else double.ollama_base_url

    def entry(name: str, model: str, ctx: int) -> dict[str, Any]:
        return {"name": name, "kind": kind, "model": model, "base_url": url, "context_window": ctx,
                "max_output_tokens": 2048, "capabilities": ["json"]}  # fmt: skip

    table = {
        "default_strategy": "cost",
        "timeouts": {"connect_s": 1, "first_token_s": 1.0, "stream_idle_s": 0.5},
        "retry": {"max_attempts": 5, "total_budget_s": 20, "backoff_base_s": 0.05, "backoff_max_s": 1},
        "breaker": {"failure_threshold": 3, "open_s": 1, "max_open_s": 4},
        "backends": [
            entry("primary", PRIMARY, 8192),
            entry("secondary", SECONDARY, 8192),
            entry("large", LARGE, 128000),
        ],
    }
    table.update(overrides)
    return table


@pytest.fixture
def router(llm_double: LLMServerDouble) -> Iterator[Router]:
    return Router(parse_config(_table(llm_double), "test"), env={}, prices=PRICES)


def _request(**extra: Any) -> RouteRequest:
    return RouteRequest(prompt_tokens=20, max_tokens=256, **extra)


async def _call(router: Router, stream: bool = False) -> tuple[Any, Any, list[str]]:
    emitted: list[str] = []

    async def emit(chunk: AIMessageChunk) -> None:
        emitted.append(str(chunk.content))

    answer, record = await router.execute(
        [HumanMessage("explain the break")], _request(), emit=emit if stream else None
    )
    return answer, record, emitted


def _attempts(record: Any) -> list[tuple[str, str, str | None]]:
    return [(a.backend, a.outcome, a.error_class) for a in record.attempts]


def _requests(double: LLMServerDouble) -> dict[str, int]:
    return {m: len(double.requests_for(m)) for m in (PRIMARY, SECONDARY, LARGE)}


async def test_healthy_call_reports_backend_model_and_usage(router: Router, llm_double: LLMServerDouble) -> None:
    answer, record, _ = await _call(router)
    assert answer.response_metadata["model_name"] == PRIMARY
    assert answer.text.startswith(f"[{PRIMARY}:")
    assert (record.answered_by, record.answered_model, record.outcome) == ("primary", PRIMARY, "success")
    [attempt] = record.attempts
    assert attempt.usage.provenance == "provider"
    assert attempt.usage.output_tokens == len(answer.text.split())
    assert record.actual_cost_usd == pytest.approx((attempt.usage.input_tokens + attempt.usage.output_tokens) * 0.1e-6)
    assert [c.backend for c in record.candidates] == ["primary", "secondary", "large"]


async def test_rate_limit_honours_retry_after_then_retries(router: Router, llm_double: LLMServerDouble) -> None:
    llm_double.set_behaviour(PRIMARY, Behaviour(fault="status", status=429, retry_after=0.4, times=1))
    started = time.monotonic()
    _, record, _ = await _call(router)
    assert time.monotonic() - started >= 0.4
    assert _attempts(record) == [("primary", "failed", "rate_limit"), ("primary", "success", None)]


async def test_rate_limit_with_long_retry_after_fails_over_at_once(router: Router, llm_double: LLMServerDouble) -> None:
    llm_double.set_behaviour(PRIMARY, Behaviour(fault="status", status=429, retry_after=30))
    started = time.monotonic()
    _, record, _ = await _call(router)
    assert time.monotonic() - started < 15  # generous: well under the 30 s Retry-After it must not wait for
    assert _attempts(record) == [("primary", "failed", "rate_limit"), ("secondary", "success", None)]
    _, again, _ = await _call(router)  # primary is left alone until its Retry-After has passed
    assert again.attempts[0].backend == "secondary"
    assert _requests(llm_double)[PRIMARY] == 1


@pytest.mark.parametrize(("fault", "error_class"), [("status", "server_error"), ("reset", "connection")])
async def test_server_error_and_reset_retry_once_then_fail_over(
    router: Router, llm_double: LLMServerDouble, fault: str, error_class: str
) -> None:
    llm_double.set_behaviour(PRIMARY, Behaviour(fault=fault, status=503))  # type: ignore[arg-type]
    answer, record, _ = await _call(router)
    assert _attempts(record) == [
        ("primary", "failed", error_class), ("primary", "failed", error_class), ("secondary", "success", None),
    ]  # fmt: skip
    assert record.attempts[1].retry_of_same_backend
    assert record.attempts[2].fallback_from == "primary"
    assert answer.response_metadata["model_name"] == SECONDARY
    assert _requests(llm_double) == {PRIMARY: 2, SECONDARY: 1, LARGE: 0}


@pytest.mark.parametrize("stream", [False, True])
async def test_silent_backend_is_not_retried(router: Router, llm_double: LLMServerDouble, stream: bool) -> None:
    llm_double.set_behaviour(PRIMARY, Behaviour(fault="hang"))
    started = time.monotonic()
    answer, record, _ = await _call(router, stream=stream)
    assert time.monotonic() - started < 15  # generous: first_token_s is 1, the backend never answers
    assert _attempts(record)[0] == ("primary", "failed", "first_token_timeout")
    assert answer.response_metadata["model_name"] == SECONDARY
    assert _requests(llm_double)[PRIMARY] == 1


@pytest.mark.parametrize("stream", [False, True])
async def test_slow_first_token_fails_over(router: Router, llm_double: LLMServerDouble, stream: bool) -> None:
    llm_double.set_behaviour(PRIMARY, Behaviour(fault="slow_first_token", first_token_delay_s=30))
    started = time.monotonic()
    _, record, _ = await _call(router, stream=stream)
    assert time.monotonic() - started < 15  # generous: first_token_s is 1, the first token would take 30 s
    assert _attempts(record) == [("primary", "failed", "first_token_timeout"), ("secondary", "success", None)]


@pytest.mark.parametrize(
    ("fault", "error_class"),
    [("stream_cut", "stream_broken"), ("malformed_chunk", "stream_broken"), ("stall", "stream_idle_timeout")],
)
async def test_stream_fault_before_any_token_restarts_on_the_next_backend(
    router: Router, llm_double: LLMServerDouble, fault: str, error_class: str
) -> None:
    llm_double.set_behaviour(PRIMARY, Behaviour(fault=fault, at_chunk=0, stall_s=3))  # type: ignore[arg-type]
    answer, record, emitted = await _call(router, stream=True)
    assert record.attempts[0].backend == "primary"
    assert record.attempts[0].outcome == "failed"
    # Cut or stalled before the first chunk: a dropped connection (retried once) or a silent backend.
    assert record.attempts[0].error_class in {error_class, "connection", "first_token_timeout"}
    assert record.answered_by == "secondary"
    assert "".join(emitted) == answer.text  # only the secondary's tokens reached the caller


@pytest.mark.parametrize(
    ("fault", "error_class"),
    [("stream_cut", "stream_broken"), ("malformed_chunk", "stream_broken"), ("stall", "stream_idle_timeout")],
)
async def test_stream_fault_after_tokens_is_never_a_success(
    router: Router, llm_double: LLMServerDouble, fault: str, error_class: str
) -> None:
    llm_double.set_behaviour(PRIMARY, Behaviour(fault=fault, stall_s=30))  # type: ignore[arg-type]
    emitted: list[str] = []

    async def emit(chunk: AIMessageChunk) -> None:
        emitted.append(str(chunk.content))

    started = time.monotonic()
    with pytest.raises(StreamInterruptedError, match=error_class):
        await router.execute([HumanMessage("explain the break")], _request(), emit=emit)
    assert time.monotonic() - started < 15  # generous: the idle limit ends a 30 s stall
    assert emitted  # some tokens had reached the caller
    assert _requests(llm_double)[SECONDARY] == 0


async def test_missing_done_after_a_finished_stream_is_complete(router: Router, llm_double: LLMServerDouble) -> None:
    """[DONE] is only a terminator: the finish_reason and usage chunks prove the answer is whole."""
    llm_double.set_behaviour(PRIMARY, Behaviour(fault="missing_done"))
    answer, record, emitted = await _call(router, stream=True)
    assert record.answered_by == "primary"
    assert "".join(emitted) == answer.text


async def test_ollama_stream_without_done_is_never_a_success(llm_double: LLMServerDouble) -> None:
    router = Router(parse_config(_table(llm_double, kind="ollama"), "test"), env={}, prices=PRICES)
    llm_double.set_behaviour(PRIMARY, Behaviour(fault="missing_done"))
    with pytest.raises(StreamInterruptedError, match="without a finish reason"):
        await _call(router, stream=True)


async def test_context_length_uses_the_stated_limit_and_keeps_an_equal_window(
    router: Router, llm_double: LLMServerDouble
) -> None:
    """Regression: a fallback whose window equals the failing one was dropped, and the provider's stated limit
    ignored. The primary's table says 8192 but the provider says 4096: the secondary (8192) fits and is tried."""
    llm_double.set_behaviour(PRIMARY, Behaviour(fault="context_length", context_limit=4096))
    _, record, _ = await _call(router)
    assert _attempts(record) == [("primary", "failed", "context_length"), ("secondary", "success", None)]
    assert _requests(llm_double)[LARGE] == 0


async def test_context_length_skips_backends_the_stated_limit_rules_out(
    router: Router, llm_double: LLMServerDouble
) -> None:
    llm_double.set_behaviour(PRIMARY, Behaviour(fault="context_length", context_limit=10_000))
    _, record, _ = await _call(router)
    assert _attempts(record) == [("primary", "failed", "context_length"), ("large", "success", None)]
    assert _requests(llm_double)[SECONDARY] == 0


async def test_content_policy_is_not_retried_and_the_reason_reaches_the_caller(
    router: Router, llm_double: LLMServerDouble
) -> None:
    llm_double.set_behaviour(PRIMARY, Behaviour(fault="content_policy"))
    with pytest.raises(ContentPolicyError) as info:
        await _call(router)
    assert "content management policy" in info.value.reason
    assert info.value.backend == "primary"
    assert _requests(llm_double) == {PRIMARY: 1, SECONDARY: 0, LARGE: 0}


async def test_one_budget_covers_all_attempts(llm_double: LLMServerDouble) -> None:
    table = _table(llm_double, retry={"max_attempts": 2, "total_budget_s": 20, "backoff_base_s": 0.01})
    router = Router(parse_config(table, "test"), env={}, prices=PRICES)
    for model in (PRIMARY, SECONDARY, LARGE):
        llm_double.set_behaviour(model, Behaviour(fault="status", status=500))
    with pytest.raises(Exception, match="every backend failed") as info:
        await _call(router)
    assert len(info.value.decision.attempts) == 2  # type: ignore[attr-defined]
    assert sum(_requests(llm_double).values()) == 2


@pytest.mark.slow
async def test_down_backend_is_skipped_then_used_again_soon_after_recovery(
    router: Router, llm_double: LLMServerDouble
) -> None:
    llm_double.set_behaviour(PRIMARY, Behaviour(fault="status", status=503))
    down_until = time.monotonic() + 10
    while time.monotonic() < down_until:
        _, record, _ = await _call(router)
        assert record.answered_by == "secondary"
        await __import__("asyncio").sleep(0.1)
    probes_while_down = _requests(llm_double)[PRIMARY]
    assert probes_while_down <= 8  # a few half-open probes, not every request
    assert _requests(llm_double)[SECONDARY] > 40
    llm_double.set_behaviour(PRIMARY, Behaviour())
    recovered_at = time.monotonic()
    while True:
        _, record, _ = await _call(router)
        if record.answered_by == "primary":
            break
        assert time.monotonic() - recovered_at < 5, "primary not used again within 5 s of recovering"
        await __import__("asyncio").sleep(0.1)


@pytest.mark.slow
async def test_backend_whose_latency_doubles_loses_its_traffic(llm_double: LLMServerDouble) -> None:
    table = _table(llm_double, default_strategy="performance")
    # Non-streamed answers arrive whole, so their time counts as time to first token.
    table["backends"][0]["latency_prior"] = {"ttft_s": 0.1, "tokens_per_s": 1e6}
    table["backends"][1]["latency_prior"] = {"ttft_s": 0.3, "tokens_per_s": 1e6}
    table["backends"] = table["backends"][:2]
    router = Router(parse_config(table, "test"), env={}, prices=PRICES)
    # Gaps of 200 ms and more: a loaded machine's scheduling jitter cannot reorder them.
    llm_double.set_behaviour(PRIMARY, Behaviour(latency_s=0.1))
    llm_double.set_behaviour(SECONDARY, Behaviour(latency_s=0.3))
    for name in ("primary", "secondary"):  # first calls pay for connections; measure both warm
        for _ in range(3):
            await router.execute([HumanMessage("warm up")], _request(), only=frozenset({name}))
    before = []
    for _ in range(10):
        _, record, _ = await _call(router)
        before.append(record.answered_by)
    assert before.count("primary") >= 8, before
    llm_double.set_behaviour(PRIMARY, Behaviour(latency_s=0.9))
    answered = []
    for _ in range(20):
        _, record, _ = await _call(router)
        answered.append(record.answered_by)
    assert answered.count("secondary") >= 15, answered
