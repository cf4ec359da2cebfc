"""Spend and latency that hold across processes and restarts: the database, not process memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from router.ledger import utc_today
from router.spend_store import PostgresSpendStore, SqliteSpendStore
from tests.conftest import MODEL, PRICES_DOUBLE, model_env
from tests.doubles.llm_server import Behaviour, LLMServerDouble

REPO = Path(__file__).resolve().parents[2]
TRADEFLOW = str(Path(sys.executable).parent / "tradeflow")
# test-model on the openai backend: 0.15 / 0.60 USD per 1M tokens (tests/fixtures/prices_double.yaml).
PRICE_IN, PRICE_OUT = 0.15e-6, 0.60e-6


def _budget_table(path: Path, double: LLMServerDouble, budget: float) -> Path:
    path.write_text(
        "default_strategy: cost\n"
        f"budgets_usd_per_day: {{spend-test: {budget}}}\n"
        "backends:\n"
        f"  - {{name: double-openai, kind: openai, model: {MODEL}, base_url: '{double.openai_base_url}',\n"
        "     api_key_env: OPENAI_API_KEY, context_window: 32000, max_output_tokens: 1024}\n"
    )
    return path


@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_processes_50_concurrent_calls_stay_within_the_budget(
    store: str, tmp_path: Path, llm_double: LLMServerDouble, request: pytest.FixtureRequest
) -> None:
    """Regression: budgets lived in process memory, checked at planning time: N workers got N budgets and
    concurrent calls overspent. Each attempt now reserves its estimated cost in the database first."""
    # Answers as long as the router expects for a chat call (300 tokens), so estimate and cost agree.
    llm_double.set_behaviour(MODEL, Behaviour(answer_words=299, latency_s=0.05))
    one_call = 5 * PRICE_IN + 300 * PRICE_OUT
    budget = 10 * one_call
    env = {**os.environ, **model_env(llm_double, "openai"), "TRADEFLOW_DATA_DIR": str(tmp_path / "data"),
           "TRADEFLOW_ROUTER_CONFIG": str(_budget_table(tmp_path / "table.yaml", llm_double, budget))}  # fmt: skip
    if store == "postgres":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    else:
        env.pop("DATABASE_URL", None)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.spend_worker", "25", "spend-test"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results: list[dict[str, Any]] = []
    for worker in workers:
        out, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err[-3000:]
        results.append(json.loads(out.splitlines()[-1]))
    answered = sum(r["answered"] for r in results)
    assert answered + sum(r["refused"] for r in results) == 50
    ledger = (
        PostgresSpendStore(env["DATABASE_URL"])
        if store == "postgres"
        else SqliteSpendStore(tmp_path / "data" / "router.sqlite")
    )
    try:
        spent = ledger.spent("spend-test", utc_today())
    finally:
        ledger.close()
    assert 0 < spent <= budget + one_call
    assert 5 <= answered <= 11
    assert len(llm_double.requests_for(MODEL)) == answered  # a refused call never reached the model


@pytest.mark.slow
def test_a_fresh_process_ranks_by_latency_measured_before_the_restart(
    tmp_path: Path, llm_double: LLMServerDouble
) -> None:
    """Regression: latency figures lived only in process memory, so `--strategy performance` in a fresh process
    scored every backend 1.0 (priors only). They are now seeded from the analytics rows of recent calls."""
    env = {**os.environ, **model_env(llm_double, "auto"), "TRADEFLOW_DATA_DIR": str(tmp_path / "data"),
           "TRADEFLOW_PRICES_FILE": str(PRICES_DOUBLE)}  # fmt: skip
    env.pop("DATABASE_URL", None)
    example = REPO / "examples" / "market_brief.json"
    first = subprocess.run([TRADEFLOW, "run", "market_brief", "--input", str(example)], env=env, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert first.returncode == 0, first.stderr[-3000:]
    route = subprocess.run([TRADEFLOW, "route", "Summarise the fails", "--strategy", "performance"], env=env,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert route.returncode == 0, route.stderr[-3000:]
    decision = json.loads(route.stdout.partition("\n\n")[2])
    scores = {c["backend"]: c["score"] for c in decision["candidates"]}
    assert len(scores) == 2
    assert min(scores.values()) < 0.5  # measured at milliseconds against the other's 0.5 s prior
