"""Ranking agrees with a brute-force oracle (in plain Python and with numpy), and says why each backend is left out."""

from __future__ import annotations

import math
import random

import pytest

from core.prices import Price
from router.config import BackendConfig, LatencyPrior, Weights
from router.policy import VECTOR_FROM, BackendTable, rank, weights_for
from router.request import RouteRequest

CAPS = ["json", "tools", "long-context", "vision"]


def _price(input_per_1m: float, output_per_1m: float | None = None) -> Price:
    out = input_per_1m if output_per_1m is None else output_per_1m
    return Price(input_per_1m, out, input_per_1m, "test")


def _table(backends: list[tuple[BackendConfig, Price]]) -> BackendTable:
    return BackendTable([b for b, _ in backends], [p for _, p in backends])


def _backend(rng: random.Random, i: int, price_pool: list[float], lat_pool: list[float]) -> tuple[BackendConfig, Price]:
    ctx = rng.choice([4096, 8192, 32768, 128000])
    price = _price(rng.choice(price_pool), rng.choice(price_pool))
    return BackendConfig(
        name=f"b{rng.randrange(10_000):04d}-{i}",
        kind="openai",
        model=f"m{i}",
        context_window=ctx,
        max_output_tokens=rng.choice([256, 1024, min(4096, ctx)]),
        capabilities=frozenset(rng.sample(CAPS, rng.randint(0, 3))),
        quality_tier=rng.randint(1, 5),
        latency_prior=LatencyPrior(ttft_s=rng.choice(lat_pool), tokens_per_s=rng.choice([20.0, 50.0, 100.0])),
    ), price


def _oracle(request, configs, weights, blocked, p95, remaining):  # type: ignore[no-untyped-def]
    """Straightforward re-statement of the documented formula, one backend at a time."""
    out = min(request.output_tokens_estimate, request.max_tokens)
    rows = []
    for c, price in configs:
        if request.prompt_tokens + request.max_tokens > c.context_window:
            continue
        if request.max_tokens > c.max_output_tokens:
            continue
        if not request.required_capabilities <= c.capabilities:
            continue
        if c.name in blocked:
            continue
        cost = (request.prompt_tokens * price.input_per_1m + out * price.output_per_1m) / 1e6
        if request.max_cost_usd is not None and cost > request.max_cost_usd:
            continue
        if remaining is not None and cost > remaining:
            continue
        latency = c.latency_prior.ttft_s + (1 / c.latency_prior.tokens_per_s) * max(out - 1, 0)
        measured = p95.get(c.name, latency)
        if request.latency_budget_s is not None and measured > request.latency_budget_s:
            continue
        rows.append((c.name, cost, latency, (5 - c.quality_tier) / 4))
    if not rows:
        return []
    max_c = max(r[1] for r in rows)
    max_l = max(r[2] for r in rows)
    scored = []
    for name, cost, latency, gap in rows:
        score = (weights[0] * cost / max_c if max_c else 0.0) + (weights[1] * latency / max_l if max_l else 0.0)
        scored.append((score + weights[2] * gap, name))
    order = []
    while scored:  # selection by repeated minimum: the brute-force part
        best = min(scored)
        order.append(best)
        scored.remove(best)
    return order


@pytest.mark.parametrize("seed", range(300))
def test_ranking_matches_the_oracle(seed: int) -> None:
    """Tables below VECTOR_FROM backends are ranked in plain Python, larger ones with numpy: both must agree."""
    rng = random.Random(seed)
    price_pool = [0.0, 0.1, 0.5, 2.5] if seed % 3 == 0 else [rng.uniform(0, 10) for _ in range(8)]
    lat_pool = [0.2, 0.5] if seed % 3 == 0 else [rng.uniform(0.05, 2) for _ in range(8)]  # ties when pools are tiny
    size = rng.randint(1, VECTOR_FROM - 1) if seed % 2 else rng.randint(VECTOR_FROM, 60)
    configs = [_backend(rng, i, price_pool, lat_pool) for i in range(size)]
    table = _table(configs)
    assert (table.columns is not None) == (size >= VECTOR_FROM)
    blocked = {c.name for c, _ in configs if rng.random() < 0.1}
    for name in blocked:
        table.set_blocked(table.index[name], 100.0)
    p95 = {c.name: rng.uniform(0.1, 5) for c, _ in configs if rng.random() < 0.5}
    for name, value in p95.items():
        i = table.index[name]
        table.set_latency(i, table.ttft_s[i], table.per_token_s[i], value)
    request = RouteRequest(
        prompt_tokens=rng.choice([10, 500, 3000, 9000]),
        max_tokens=rng.choice([128, 512, 2048]),
        task_type=rng.choice(["summary", "classification", "chat"]),
        required_capabilities=frozenset(rng.sample(CAPS, rng.randint(0, 2))),
        max_cost_usd=rng.choice([None, 0.001, 0.05]),
        latency_budget_s=rng.choice([None, 1.0, 5.0]),
    )
    strategy = rng.choice(["cost", "performance", "balanced"])
    weights = weights_for(strategy, Weights(cost=rng.random(), latency=rng.random(), quality=rng.random()))
    remaining = rng.choice([None, 0.01])
    ranking = rank(request, table, weights, now=50.0, remaining_budget_usd=remaining)
    expected = _oracle(request, configs, weights, blocked, p95, remaining)
    assert list(ranking.order) == [name for _, name in expected]
    assert ranking.scores == pytest.approx([score for score, _ in expected], rel=1e-9, abs=1e-12)
    assert set(ranking.excluded) == {c.name for c, _ in configs} - set(ranking.order)


def _simple(name: str, price: float, ttft: float, **extra: object) -> tuple[BackendConfig, Price]:
    return BackendConfig.model_validate({
        "name": name, "kind": "openai", "model": name, "context_window": 8192, "max_output_tokens": 2048,
        "latency_prior": {"ttft_s": ttft}, "capabilities": ["json"], **extra,
    }), _price(price)  # fmt: skip


def test_strategies_pick_cheapest_fastest_and_a_balance() -> None:
    table = _table([_simple("cheap-slow", 0.1, 2.0), _simple("dear-fast", 10.0, 0.1)])
    request = RouteRequest(prompt_tokens=100, max_tokens=100)
    assert rank(request, table, weights_for("cost", Weights()), 0).order[0] == "cheap-slow"
    assert rank(request, table, weights_for("performance", Weights()), 0).order[0] == "dear-fast"
    balanced = weights_for("balanced", Weights(cost=1, latency=1, quality=0))
    assert balanced == (0.5, 0.5, 0.0)


def test_ties_go_to_the_name_that_sorts_first() -> None:
    table = _table([_simple("zeta", 1.0, 0.5), _simple("alpha", 1.0, 0.5), _simple("mid", 1.0, 0.5)])
    ranking = rank(RouteRequest(prompt_tokens=10), table, (0.5, 0.5, 0.0), 0)
    assert ranking.order == ("alpha", "mid", "zeta")


def test_every_exclusion_has_a_reason() -> None:
    table = _table([
        _simple("small", 1.0, 0.5, context_window=1024, max_output_tokens=512),
        _simple("no-tools", 1.0, 0.5),
        _simple("tripped", 1.0, 0.5, capabilities=["json", "tools"]),
        _simple("pricey", 500.0, 0.5, capabilities=["json", "tools"]),
        _simple("slow", 1.0, 9.0, capabilities=["json", "tools"]),
        _simple("ok", 1.0, 0.5, capabilities=["json", "tools"]),
    ])  # fmt: skip
    table.set_blocked(table.index["tripped"], math.inf)
    table.disable("ok", "OPENAI_API_KEY is not set")
    request = RouteRequest(prompt_tokens=2000, max_tokens=256, required_capabilities=frozenset({"tools"}),
                           max_cost_usd=0.05, latency_budget_s=5.0)  # fmt: skip
    ranking = rank(request, table, (1, 0, 0), now=0)
    assert ranking.order == ()
    assert ranking.excluded == {
        "small": "context window 1024 < 2256 tokens (prompt + max_tokens)",
        "no-tools": "lacks capabilities ['tools']",
        "tripped": "circuit breaker open",
        "pricey": "expected cost $1.128000 > max_cost $0.050000",
        "slow": "latency 14.100s > budget 5.000s",
        "ok": "OPENAI_API_KEY is not set",
    }


def test_budget_exclusion() -> None:
    table = _table([_simple("a", 100.0, 0.5)])
    ranking = rank(RouteRequest(prompt_tokens=1000, max_tokens=100), table, (1, 0, 0), 0, remaining_budget_usd=0.01)
    assert ranking.excluded["a"].startswith("expected cost $0.110000 > remaining daily budget $0.010000")
