"""Cost arithmetic, token counting provenance and daily budgets."""

from __future__ import annotations

from datetime import date

import pytest

from router.config import BackendConfig
from router.ledger import SpendLedger, cost_usd, count_tokens


def _backend(model: str, cached: float | None = None) -> BackendConfig:
    prices = {"input_per_1m": 2.5, "output_per_1m": 10.0}
    if cached is not None:
        prices["cached_input_per_1m"] = cached
    return BackendConfig.model_validate({"name": "b", "kind": "openai", "model": model, "prices": prices,
                                         "context_window": 128000, "max_output_tokens": 4096})  # fmt: skip


def test_cost_uses_input_output_and_cached_prices() -> None:
    assert cost_usd(_backend("gpt-4o"), 1_000_000, 100_000) == pytest.approx(2.5 + 1.0)
    assert cost_usd(_backend("gpt-4o", cached=1.25), 1000, 0, cached_tokens=400) == pytest.approx(
        (600 * 2.5 + 400 * 1.25) / 1e6
    )


def test_openai_models_are_counted_with_their_tokenizer_others_estimated() -> None:
    tokens, provenance = count_tokens(_backend("gpt-4o-mini"), "Settlement break on ISIN US912828XG55")
    assert provenance == "tokenizer"
    assert 5 < tokens < 20
    tokens, provenance = count_tokens(_backend("llama3.1"), "x" * 40)
    assert (tokens, provenance) == (10, "estimate")


def test_budget_per_workflow_per_day() -> None:
    ledger = SpendLedger({"triage": 1.0, "*": 5.0})
    today, tomorrow = date(2026, 11, 25), date(2026, 11, 26)
    ledger.add("triage", 0.75, today)
    assert ledger.remaining("triage", today) == pytest.approx(0.25)
    assert ledger.remaining("triage", tomorrow) == pytest.approx(1.0)
    assert ledger.remaining("other", today) == pytest.approx(5.0)
    assert SpendLedger({}).remaining("any") is None
