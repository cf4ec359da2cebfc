"""Ranking: one pure scoring function over the backend table (no I/O, no clock reads).

For every backend that can take the request::

    expected_cost    = prompt_tokens x input_price + expected_output_tokens x output_price
    expected_latency = ewma_ttft + ewma_per_token x (expected_output_tokens - 1)
    quality_gap      = (5 - quality_tier) / 4

    score = w_cost x cost / max(cost) + w_latency x latency / max(latency) + w_quality x quality_gap

with the maxima taken over the eligible candidates (a zero maximum contributes zero). ``cost`` uses
weights (1, 0, 0), ``performance`` (0, 1, 0), ``balanced`` the configured weights normalised to sum
to 1. Lower is better; ties go to the backend whose name sorts first.

The table is held as columns (numpy arrays) so ranking 100 backends costs a few vector operations;
exclusion reasons are written out only when someone reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from router.config import BackendConfig, Strategy, Weights
from router.request import RouteRequest

STRATEGY_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "cost": (1.0, 0.0, 0.0),
    "performance": (0.0, 1.0, 0.0),
}

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def weights_for(strategy: Strategy, balanced: Weights) -> tuple[float, float, float]:
    """The (cost, latency, quality) weights of a strategy, summing to 1."""
    if strategy in STRATEGY_WEIGHTS:
        return STRATEGY_WEIGHTS[strategy]
    total = balanced.cost + balanced.latency + balanced.quality
    return (balanced.cost / total, balanced.latency / total, balanced.quality / total)


class BackendTable:
    """The backends as columns: static terms, plus live latency and breaker figures updated in place."""

    def __init__(self, configs: Sequence[BackendConfig]) -> None:
        self.names = [c.name for c in configs]
        self.index = {name: i for i, name in enumerate(self.names)}
        capabilities = sorted({cap for c in configs for cap in c.capabilities})
        self.capability_bits = {cap: 1 << i for i, cap in enumerate(capabilities)}
        self.capability_masks: IntArray = np.array(
            [sum(self.capability_bits[cap] for cap in c.capabilities) for c in configs], dtype=np.int64
        )
        self.context_window: IntArray = np.array([c.context_window for c in configs], dtype=np.int64)
        self.max_output_tokens: IntArray = np.array([c.max_output_tokens for c in configs], dtype=np.int64)
        self.input_price: FloatArray = np.array([c.prices.input_per_1m / 1e6 for c in configs], dtype=np.float64)
        self.output_price: FloatArray = np.array([c.prices.output_per_1m / 1e6 for c in configs], dtype=np.float64)
        self.quality_gap: FloatArray = np.array([(5 - c.quality_tier) / 4 for c in configs], dtype=np.float64)
        self.ttft_s: FloatArray = np.array([c.latency_prior.ttft_s for c in configs], dtype=np.float64)
        self.per_token_s: FloatArray = np.array([1 / c.latency_prior.tokens_per_s for c in configs], dtype=np.float64)
        self.p95_s: FloatArray = np.full(len(configs), np.nan)
        self.blocked_until: FloatArray = np.zeros(len(configs))
        self.enabled: BoolArray = np.ones(len(configs), dtype=np.bool_)
        self.disabled_reason: dict[str, str] = {}
        order = sorted(range(len(configs)), key=self.names.__getitem__)
        self.name_rank: IntArray = np.empty(len(configs), dtype=np.int64)
        self.name_rank[order] = np.arange(len(configs))

    def __len__(self) -> int:
        return len(self.names)

    def disable(self, name: str, reason: str) -> None:
        """Take a backend out of every ranking (missing key, provider filter)."""
        self.enabled[self.index[name]] = False
        self.disabled_reason[name] = reason

    def mask_for(self, capabilities: frozenset[str]) -> int | None:
        """Bit mask of ``capabilities``; None when one of them no backend has."""
        mask = 0
        for cap in capabilities:
            bit = self.capability_bits.get(cap)
            if bit is None:
                return None
            mask |= bit
        return mask


@dataclass(frozen=True)
class Ranking:
    """Eligible backends best first, with their terms; excluded backends with the reason."""

    table_names: list[str]
    indices: IntArray
    score_values: FloatArray
    cost_values: FloatArray
    latency_values: FloatArray
    weights: tuple[float, float, float]
    _reason_inputs: tuple[object, ...] = field(repr=False)

    @cached_property
    def order(self) -> tuple[str, ...]:
        """Names of the eligible backends, best first."""
        names = self.table_names
        return tuple(names[i] for i in self.indices.tolist())

    @cached_property
    def scores(self) -> tuple[float, ...]:
        """Scores in ``order``."""
        return tuple(self.score_values.tolist())

    @cached_property
    def expected_cost_usd(self) -> tuple[float, ...]:
        """Expected cost of the request on each backend, in ``order``."""
        return tuple(self.cost_values.tolist())

    @cached_property
    def expected_latency_s(self) -> tuple[float, ...]:
        """Expected latency on each backend, in ``order``."""
        return tuple(self.latency_values.tolist())

    @cached_property
    def excluded(self) -> dict[str, str]:
        """Why each other backend cannot take the request (first failing check)."""
        return _reasons(self.table_names, *self._reason_inputs)  # type: ignore[arg-type]


def rank(
    request: RouteRequest,
    table: BackendTable,
    weights: tuple[float, float, float],
    now: float,
    remaining_budget_usd: float | None = None,
) -> Ranking:
    """Order the backends that can take ``request`` by score."""
    prompt = request.prompt_tokens
    max_tokens = request.max_tokens
    need = prompt + max_tokens
    out = request.output_tokens_estimate
    required = table.mask_for(request.required_capabilities)
    ok_context = table.context_window >= need
    ok_output = table.max_output_tokens >= max_tokens
    if required is None:
        ok_caps = np.zeros(len(table), dtype=np.bool_)
    else:
        ok_caps = (table.capability_masks & required) == required
    ok_breaker = table.blocked_until <= now
    cost = table.input_price * prompt + table.output_price * out
    latency = table.ttft_s + table.per_token_s * max(out - 1, 0)
    ok = table.enabled & ok_context & ok_output & ok_caps & ok_breaker
    ok_cost = ok_budget = ok_latency = None
    if request.max_cost_usd is not None:
        ok_cost = cost <= request.max_cost_usd
        ok &= ok_cost
    if remaining_budget_usd is not None:
        ok_budget = cost <= remaining_budget_usd
        ok &= ok_budget
    measured = None
    if request.latency_budget_s is not None:
        measured = np.where(np.isnan(table.p95_s), latency, table.p95_s)
        ok_latency = measured <= request.latency_budget_s
        ok &= ok_latency
    eligible = np.flatnonzero(ok)
    reason_inputs = (
        request, remaining_budget_usd, table, ok_context, ok_output, ok_caps, ok_breaker,
        cost, ok_cost, ok_budget, measured, ok_latency,
    )  # fmt: skip
    if eligible.size == 0:
        empty = np.empty(0)
        return Ranking(table.names, eligible, empty, empty, empty, weights, reason_inputs)
    costs = cost[eligible]
    lats = latency[eligible]
    w_cost, w_lat, w_quality = weights
    max_c = float(costs.max())
    max_l = float(lats.max())
    scores = (w_cost / max_c if max_c > 0 else 0.0) * costs + (w_lat / max_l if max_l > 0 else 0.0) * lats
    scores += w_quality * table.quality_gap[eligible]
    order = np.lexsort((table.name_rank[eligible], scores))
    return Ranking(table.names, eligible[order], scores[order], costs[order], lats[order], weights, reason_inputs)


def _reasons(
    names: list[str],
    request: RouteRequest,
    remaining_budget_usd: float | None,
    table: BackendTable,
    ok_context: BoolArray,
    ok_output: BoolArray,
    ok_caps: BoolArray,
    ok_breaker: BoolArray,
    cost: FloatArray,
    ok_cost: BoolArray | None,
    ok_budget: BoolArray | None,
    measured: FloatArray | None,
    ok_latency: BoolArray | None,
) -> dict[str, str]:
    need = request.prompt_tokens + request.max_tokens
    reasons: dict[str, str] = {}
    for i, name in enumerate(names):
        if not table.enabled[i]:
            reasons[name] = table.disabled_reason[name]
        elif not ok_context[i]:
            reasons[name] = f"context window {int(table.context_window[i])} < {need} tokens (prompt + max_tokens)"
        elif not ok_output[i]:
            reasons[name] = f"max output {int(table.max_output_tokens[i])} < max_tokens {request.max_tokens}"
        elif not ok_caps[i]:
            reasons[name] = f"lacks capabilities {sorted(request.required_capabilities)}"
        elif not ok_breaker[i]:
            reasons[name] = "circuit breaker open"
        elif ok_cost is not None and not ok_cost[i]:
            reasons[name] = f"expected cost ${cost[i]:.6f} > max_cost ${request.max_cost_usd:.6f}"
        elif ok_budget is not None and not ok_budget[i]:
            reasons[name] = f"expected cost ${cost[i]:.6f} > remaining daily budget ${remaining_budget_usd:.6f}"
        elif ok_latency is not None and measured is not None and not ok_latency[i]:
            reasons[name] = f"latency {measured[i]:.3f}s > budget {request.latency_budget_s:.3f}s"
    return reasons
