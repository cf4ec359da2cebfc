"""A served graph through a backend slow to its first token: `langgraph dev`, langgraph-sdk, the LLM double.

market_brief's model step runs the llm_router subgraph, whose calls are not streamed token by token (the spec
compiler's choice): a stream cut, stall, malformed chunk or missing done line cannot reach it, and those faults
are covered in-process, inside a streamed graph (tests/integration/test_router_hardening.py). What a served run
can meet is a backend that never starts answering: the run must succeed on the fallback, well within the ceiling.
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


async def test_a_served_run_hands_over_from_a_silent_backend_and_succeeds_on_the_fallback(
    server: DevServer, llm_double: LLMServerDouble
) -> None:
    llm_double.set_behaviour(PRIMARY, Behaviour(fault="slow_first_token", first_token_delay_s=6))
    _, values = await _stream(server)
    assert values["brief"].startswith(f"[{FALLBACK}:")
    assert len(llm_double.requests_for(PRIMARY)) == 1
    assert len(llm_double.requests_for(FALLBACK)) == 1
