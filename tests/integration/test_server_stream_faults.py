"""Streaming a served graph through mid-stream faults: `langgraph dev`, langgraph-sdk, the LLM double.

market_brief's model call is streamed to the client (stream_mode messages-tuple). The primary backend (Ollama
kind) breaks in each way a stream can; the run must succeed on the fallback, with the abandoned partial message
closed as superseded and the answer under its own id.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langgraph_sdk import get_client

from tests.conftest import model_env
from tests.doubles.llm_server import Behaviour, LLMServerDouble
from tests.support.examples import example_input
from tests.support.langgraph_server import DevServer, start_with_double

pytestmark = [pytest.mark.server]
PRIMARY, FALLBACK = "m-local", "m-fallback"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, llm_server: LLMServerDouble) -> Iterator[DevServer]:
    workdir = tmp_path_factory.mktemp("stream-faults")
    table = workdir / "table.yaml"
    table.write_text(
        "default_strategy: cost\n"
        "timeouts: {connect_s: 2, first_token_s: 3, stream_idle_s: 1}\n"
        "retry: {max_attempts: 4, total_budget_s: 30, backoff_base_s: 0.05, backoff_max_s: 1}\n"
        # Each test must reach the faulty primary: its breaker must not open across the tests.
        "breaker: {failure_threshold: 100, open_s: 0.1, max_open_s: 0.1}\n"
        "backends:\n"
        f"  - {{name: local, kind: ollama, model: {PRIMARY}, base_url: '{llm_server.ollama_base_url}',\n"
        "     context_window: 32000, max_output_tokens: 2048}\n"
        f"  - {{name: hosted, kind: openai, model: {FALLBACK}, base_url: '{llm_server.openai_base_url}',\n"
        "     api_key_env: OPENAI_API_KEY, context_window: 32000, max_output_tokens: 2048}\n"
    )
    prices = workdir / "prices.yaml"
    prices.write_text(
        'version: "stream-test"\nprices:\n'
        f"  - {{pattern: {PRIMARY}, valid_from: 2024-01-01, input_per_1m: 0.02, output_per_1m: 0.06}}\n"
        f"  - {{pattern: {FALLBACK}, valid_from: 2024-01-01, input_per_1m: 0.15, output_per_1m: 0.60}}\n"
    )
    env = {**model_env(llm_server, "auto"), "TRADEFLOW_ROUTER_CONFIG": str(table), "TRADEFLOW_PRICES_FILE": str(prices)}
    dev = start_with_double(workdir, env)
    yield dev
    dev.stop()


async def _stream(server: DevServer) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    client = get_client(url=server.url)
    by_id: dict[str, list[dict[str, Any]]] = {}
    values: dict[str, Any] = {}
    async for part in client.runs.stream(
        None, "market_brief", input=example_input("market_brief"), stream_mode=["messages-tuple", "values"]
    ):
        if part.event == "messages":
            message, _ = part.data
            by_id.setdefault(message["id"], []).append(message)
        elif part.event == "values":
            values = part.data
        elif part.event == "error":
            raise AssertionError(f"the run failed: {part.data}")
    return by_id, values


@pytest.mark.parametrize(
    ("fault", "behaviour"),
    [
        ("cut", Behaviour(fault="stream_cut")),
        ("stall", Behaviour(fault="stall", stall_s=4)),
        ("malformed chunk", Behaviour(fault="malformed_chunk")),
        ("no done line", Behaviour(fault="missing_done")),
        ("slow first token", Behaviour(fault="slow_first_token", first_token_delay_s=6)),
    ],
)
async def test_a_streamed_run_succeeds_on_the_fallback(
    server: DevServer, llm_double: LLMServerDouble, fault: str, behaviour: Behaviour
) -> None:
    llm_double.set_behaviour(PRIMARY, behaviour)
    by_id, values = await _stream(server)
    assert values["brief"].startswith(f"[{FALLBACK}:"), fault
    assert len(llm_double.requests_for(PRIMARY)) >= 1
    answer_id = next(
        i for i, chunks in by_id.items() if "".join(c["content"] for c in chunks).startswith(f"[{FALLBACK}:")
    )
    assert "".join(c["content"] for c in by_id[answer_id]).strip() == values["brief"]
    partial = [chunks for i, chunks in by_id.items() if i != answer_id and any(c["content"] for c in chunks)]
    if partial:  # tokens of the primary reached the client before it broke: closed as superseded
        [chunks] = partial
        assert chunks[-1]["response_metadata"]["tradeflow_superseded"] is True
        assert chunks[-1]["response_metadata"]["replaced_by"] == answer_id
    elif fault != "slow first token":
        pytest.fail(f"{fault}: no partial message reached the client before the fault")
