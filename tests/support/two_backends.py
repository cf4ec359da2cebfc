"""A two-backend router table for stream-fault tests: a cheap Ollama-kind primary, an OpenAI-kind fallback."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import model_env
from tests.doubles.llm_server import LLMServerDouble

PRIMARY, FALLBACK = "m-local", "m-fallback"


def fault_table(double: LLMServerDouble, workdir: Path) -> dict[str, str]:
    """Environment for a two-backend table: a cheap Ollama-kind primary and an OpenAI-kind fallback."""
    table = workdir / "table.yaml"
    table.write_text(
        "default_strategy: cost\n"
        "timeouts: {connect_s: 2, first_token_s: 3, stream_idle_s: 1}\n"
        "retry: {max_attempts: 4, total_budget_s: 30, backoff_base_s: 0.05, backoff_max_s: 1}\n"
        # Each test must reach the faulty primary: its breaker must not open across the tests.
        "breaker: {failure_threshold: 100, open_s: 0.1, max_open_s: 0.1}\n"
        "backends:\n"
        f"  - {{name: local, kind: ollama, model: {PRIMARY}, base_url: '{double.ollama_base_url}',\n"
        "     context_window: 32000, max_output_tokens: 2048}\n"
        f"  - {{name: hosted, kind: openai, model: {FALLBACK}, base_url: '{double.openai_base_url}',\n"
        "     api_key_env: OPENAI_API_KEY, context_window: 32000, max_output_tokens: 2048}\n"
    )
    prices = workdir / "prices.yaml"
    prices.write_text(
        'version: "stream-test"\nprices:\n'
        f"  - {{pattern: {PRIMARY}, valid_from: 2024-01-01, input_per_1m: 0.02, output_per_1m: 0.06}}\n"
        f"  - {{pattern: {FALLBACK}, valid_from: 2024-01-01, input_per_1m: 0.15, output_per_1m: 0.60}}\n"
    )
    return {**model_env(double, "auto"), "TRADEFLOW_ROUTER_CONFIG": str(table), "TRADEFLOW_PRICES_FILE": str(prices),
            "TRADEFLOW_DATA_DIR": str(workdir)}  # fmt: skip
