"""eod_reconciliation's fan-out is bounded: 1,000 mismatches never become 1,000 concurrent model calls."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import MODEL, model_env
from tests.doubles.llm_server import Behaviour, LLMServerDouble

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
async def test_1000_mismatches_run_at_most_the_spec_bound_of_model_calls_at_once(
    llm_double: LLMServerDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: one branch per mismatch with no bound (10,000 mismatches = 10,000 concurrent calls). The
    workflow spec's fan_out step carries the bound (max_concurrency), compiled into the served graph."""
    for key, value in model_env(llm_double, "openai").items():
        monkeypatch.setenv(key, value)
    spec = yaml.safe_load((REPO / "workflows" / "eod_reconciliation.yaml").read_text())
    [bound] = [s["max_concurrency"] for s in spec["steps"] if s.get("type") == "fan_out"]
    llm_double.set_behaviour(MODEL, Behaviour(latency_s=0.02))  # long enough for unbounded calls to overlap
    from graphs.eod_reconciliation.graph import graph

    books = [{"account": f"PB-{i // 100:03d}", "symbol": f"SYM{i:04d}", "quantity": 100 + i, "price": 10.0}
             for i in range(1000)]  # fmt: skip
    out = await graph.ainvoke({"as_of": "2026-11-24", "book_positions": books, "custodian_positions": []})
    assert len(out["ranked"]) == 1000
    assert len(llm_double.requests_for(MODEL)) == 1000
    assert 1 < llm_double.max_in_flight <= bound
