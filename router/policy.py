"""Ranking: one pure scoring function over the backend table (no I/O, no clock reads).

For every backend that can take the request::

    expected_cost    = prompt_tokens x input_price + expected_output_tokens x output_price
    expected_latency = ewma_ttft + ewma_per_token x (expected_output_tokens - 1)
    quality_gap      = (5 - quality_tier) / 4

    score = w_cost x cost / max(cost) + w_latency x latency / max(latency) + w_quality x quality_gap

with the maxima taken over the eligible candidates (a zero maximum contributes zero). ``cost`` uses
weights (1, 0, 0), ``performance`` (0, 1, 0), ``balanced`` the configured weights normalised to sum
to 1. Lower is better; ties go to the backend whose name sorts first.

Small tables (the usual three or four backends) are ranked in plain Python; from :data:`VECTOR_FROM`
backends on, the table is also held as numpy columns and ranked with a few vector operations (numpy is
imported only then). Exclusion reasons are written out only when someone reads them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from core.prices import Price
from router.config import BackendConfig, Strategy, Weights
from router.request import RouteRequest

STRATEGY_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "cost": (1.0, 0.0, 0.0),
    "performance": (0.0, 1.0, 0.0),
}
VECTOR_FROM = 24
"""Tables with at least this many backends are ranked with numpy (below it, plain Python is faster)."""


def weights_for(strategy: Strategy, balanced: Weights) -> tuple[float, float, float]:
    """The (cost, latency, quality) weights of a strategy, summing to 1."""
    if strategy in STRATEGY_WEIGHTS:
        return STRATEGY_WEIGHTS[strategy]
    total = balanced.cost + balanced.latency + balanced.quality
    return (balanced.cost / total, balanced.latency / total, balanced.quality / total)


class BackendTable:
    """The backends as columns: static terms, plus live latency and breaker figures updated in place."""

    def __init__(self, configs: Sequence[BackendConfig], prices: Sequence[Price]) -> None:
        self.names = [c.name for c in configs]
        self.index = {name: i for i, name in enumerate(self.names)}
        capabilities = sorted({cap for c in configs for cap in c.capabilities})
        self.capability_bits = {cap: 1 << i for i, cap in enumerate(capabilities)}
        self.capability_masks = [sum(self.capability_bits[cap] for cap in c.capabilities) for c in configs]
        self.context_window = [c.context_window for c in configs]
        self.max_output_tokens = [c.max_output_tokens for c in configs]
        self.quality_gap = [(5 - c.quality_tier) / 4 for c in configs]
        self.input_price = [p.input_per_1m / 1e6 for p in prices]
        self.output_price = [p.output_per_1m / 1e6 for p in prices]
        self.ttft_s = [c.latency_prior.ttft_s for c in configs]
        self.per_token_s = [1 / c.latency_prior.tokens_per_s for c in configs]
        self.p95_s = [math.nan] * len(configs)
        self.blocked_until = [0.0] * len(configs)
        self.enabled = [True] * len(configs)
        self.disabled_reason: dict[str, str] = {}
        order = sorted(range(len(configs)), key=self.names.__getitem__)
        self.name_rank = [0] * len(configs)
        for position, i in enumerate(order):
            self.name_rank[i] = position
        self.columns: _Columns | None = _Columns(self) if len(configs) >= VECTOR_FROM else None

    def __len__(self) -> int:
        return len(self.names)

    def disable(self, name: str, reason: str) -> None:
        """Take a backend out of every ranking (missing key, provider filter)."""
        i = self.index[name]
        self.enabled[i] = False
        self.disabled_reason[name] = reason
        if self.columns is not None:
            self.columns.enabled[i] = False

    def set_prices(self, prices: Sequence[Price]) -> None:
        """New prices in force (a price table entry's ``valid_from`` has passed)."""
        self.input_price = [p.input_per_1m / 1e6 for p in prices]
        self.output_price = [p.output_per_1m / 1e6 for p in prices]
        if self.columns is not None:
            self.columns = _Columns(self)

    def set_latency(self, i: int, ttft_s: float, per_token_s: float, p95_s: float | None) -> None:
        """Measured latency of backend ``i`` (p95 None: not measured yet)."""
        p95 = math.nan if p95_s is None else p95_s
        self.ttft_s[i], self.per_token_s[i], self.p95_s[i] = ttft_s, per_token_s, p95
        if self.columns is not None:
            self.columns.ttft_s[i], self.columns.per_token_s[i], self.columns.p95_s[i] = ttft_s, per_token_s, p95

    def set_blocked(self, i: int, until: float) -> None:
        """Backend ``i`` takes no request before ``until`` (clock seconds; ``inf`` while a trial call runs)."""
        self.blocked_until[i] = until
        if self.columns is not None:
            self.columns.blocked_until[i] = until

    def mask_for(self, capabilities: frozenset[str]) -> int | None:
        """Bit mask of ``capabilities``; None when one of them no backend has."""
        mask = 0
        for cap in capabilities:
            bit = self.capability_bits.get(cap)
            if bit is None:
                return None
            mask |= bit
        return mask


class _Columns:
    """The table as numpy arrays, for large tables."""

    def __init__(self, table: BackendTable) -> None:
        import numpy as np

        self.np = np
        self.capability_masks = np.array(table.capability_masks, dtype=np.int64)
        self.context_window = np.array(table.context_window, dtype=np.int64)
        self.max_output_tokens = np.array(table.max_output_tokens, dtype=np.int64)
        self.quality_gap = np.array(table.quality_gap, dtype=np.float64)
        self.input_price = np.array(table.input_price, dtype=np.float64)
        self.output_price = np.array(table.output_price, dtype=np.float64)
        self.ttft_s = np.array(table.ttft_s, dtype=np.float64)
        self.per_token_s = np.array(table.per_token_s, dtype=np.float64)
        self.p95_s = np.array(table.p95_s, dtype=np.float64)
        self.blocked_until = np.array(table.blocked_until, dtype=np.float64)
        self.enabled = np.array(table.enabled, dtype=np.bool_)
        self.name_rank = np.array(table.name_rank, dtype=np.int64)


class Ranking:
    """Eligible backends best first, with their terms; excluded backends with the reason (built when read)."""

    __slots__ = ("_costs", "_excluded", "_indices", "_lats", "_order", "_scores", "_table", "_why", "weights")

    def __init__(
        self,
        table: BackendTable,
        indices: list[int],
        scores: Sequence[float],
        costs: Sequence[float],
        lats: Sequence[float],
        weights: tuple[float, float, float],
        why: tuple[RouteRequest, float | None, float],
    ) -> None:
        self._table = table
        self._indices = indices
        self._scores = scores
        self._costs = costs
        self._lats = lats
        self.weights = weights
        self._why = why
        self._order: tuple[str, ...] | None = None
        self._excluded: dict[str, str] | None = None

    def __len__(self) -> int:
        return len(self._indices)

    def cost_at(self, position: int) -> float:
        """Expected cost on the backend at ``position`` in ``order``."""
        return float(self._costs[position])

    @property
    def order(self) -> tuple[str, ...]:
        """Names of the eligible backends, best first."""
        if self._order is None:
            names = self._table.names
            self._order = tuple(names[i] for i in self._indices)
        return self._order

    @property
    def scores(self) -> tuple[float, ...]:
        """Scores in ``order``."""
        return tuple(float(s) for s in self._scores)

    @property
    def expected_cost_usd(self) -> tuple[float, ...]:
        """Expected cost of the request on each backend, in ``order``."""
        return tuple(float(c) for c in self._costs)

    @property
    def expected_latency_s(self) -> tuple[float, ...]:
        """Expected latency on each backend, in ``order``."""
        return tuple(float(x) for x in self._lats)

    @property
    def excluded(self) -> dict[str, str]:
        """Why each other backend cannot take the request (first failing check)."""
        if self._excluded is None:
            request, remaining, now = self._why
            eligible = set(self._indices)
            self._excluded = {
                name: exclusion_reason(self._table, i, request, remaining, now) or "not eligible"
                for i, name in enumerate(self._table.names)
                if i not in eligible
            }
        return self._excluded


def rank(
    request: RouteRequest,
    table: BackendTable,
    weights: tuple[float, float, float],
    now: float,
    remaining_budget_usd: float | None = None,
) -> Ranking:
    """Order the backends that can take ``request`` by score."""
    if table.columns is not None:
        return _rank_columns(request, table, table.columns, weights, now, remaining_budget_usd)
    prompt = request.prompt_tokens
    max_tokens = request.max_tokens
    need = prompt + max_tokens
    out = request.output_tokens_estimate
    tail = max(out - 1, 0)
    required = table.mask_for(request.required_capabilities)
    max_cost = request.max_cost_usd
    latency_budget = request.latency_budget_s
    rows: list[tuple[int, float, float]] = []
    if required is not None:
        masks, blocked, enabled = table.capability_masks, table.blocked_until, table.enabled
        for i in range(len(table.names)):
            if not enabled[i] or table.context_window[i] < need or table.max_output_tokens[i] < max_tokens:
                continue
            if masks[i] & required != required or blocked[i] > now:
                continue
            cost = table.input_price[i] * prompt + table.output_price[i] * out
            if (max_cost is not None and cost > max_cost) or (
                remaining_budget_usd is not None and cost > remaining_budget_usd
            ):
                continue
            latency = table.ttft_s[i] + table.per_token_s[i] * tail
            if latency_budget is not None:
                p95 = table.p95_s[i]
                if (latency if p95 != p95 else p95) > latency_budget:  # p95 != p95: not measured (NaN)
                    continue
            rows.append((i, cost, latency))
    why = (request, remaining_budget_usd, now)
    if not rows:
        return Ranking(table, [], (), (), (), weights, why)
    max_c = max(r[1] for r in rows)
    max_l = max(r[2] for r in rows)
    w_c = weights[0] / max_c if max_c > 0 else 0.0
    w_l = weights[1] / max_l if max_l > 0 else 0.0
    w_q = weights[2]
    gap, name_rank = table.quality_gap, table.name_rank
    scored = sorted((w_c * c + w_l * lat + w_q * gap[i], name_rank[i], i, c, lat) for i, c, lat in rows)
    return Ranking(
        table, [s[2] for s in scored], [s[0] for s in scored], [s[3] for s in scored], [s[4] for s in scored],
        weights, why,
    )  # fmt: skip


def _rank_columns(
    request: RouteRequest,
    table: BackendTable,
    cols: _Columns,
    weights: tuple[float, float, float],
    now: float,
    remaining_budget_usd: float | None,
) -> Ranking:
    np = cols.np
    prompt = request.prompt_tokens
    max_tokens = request.max_tokens
    out = request.output_tokens_estimate
    required = table.mask_for(request.required_capabilities)
    why = (request, remaining_budget_usd, now)
    if required is None:
        return Ranking(table, [], (), (), (), weights, why)
    ok: Any = cols.enabled & (cols.context_window >= prompt + max_tokens) & (cols.max_output_tokens >= max_tokens)
    ok &= (cols.capability_masks & required) == required
    ok &= cols.blocked_until <= now
    cost = cols.input_price * prompt + cols.output_price * out
    latency = cols.ttft_s + cols.per_token_s * max(out - 1, 0)
    if request.max_cost_usd is not None:
        ok &= cost <= request.max_cost_usd
    if remaining_budget_usd is not None:
        ok &= cost <= remaining_budget_usd
    if request.latency_budget_s is not None:
        ok &= np.where(np.isnan(cols.p95_s), latency, cols.p95_s) <= request.latency_budget_s
    eligible: Any = np.flatnonzero(ok)
    if eligible.size == 0:
        return Ranking(table, [], (), (), (), weights, why)
    costs = cost[eligible]
    lats = latency[eligible]
    w_cost, w_lat, w_quality = weights
    max_c = float(costs.max())
    max_l = float(lats.max())
    scores = (w_cost / max_c if max_c > 0 else 0.0) * costs + (w_lat / max_l if max_l > 0 else 0.0) * lats
    scores += w_quality * cols.quality_gap[eligible]
    order = np.lexsort((cols.name_rank[eligible], scores))
    return Ranking(table, eligible[order].tolist(), scores[order], costs[order], lats[order], weights, why)


def exclusion_reason(
    table: BackendTable, i: int, request: RouteRequest, remaining_budget_usd: float | None, now: float
) -> str | None:
    """Why backend ``i`` cannot take ``request`` (the first failing check), or None when it can."""
    name = table.names[i]
    need = request.prompt_tokens + request.max_tokens
    out = request.output_tokens_estimate
    if not table.enabled[i]:
        return table.disabled_reason[name]
    if table.context_window[i] < need:
        return f"context window {table.context_window[i]} < {need} tokens (prompt + max_tokens)"
    if table.max_output_tokens[i] < request.max_tokens:
        return f"max output {table.max_output_tokens[i]} < max_tokens {request.max_tokens}"
    required = table.mask_for(request.required_capabilities)
    if required is None or table.capability_masks[i] & required != required:
        return f"lacks capabilities {sorted(request.required_capabilities)}"
    if table.blocked_until[i] > now:
        return "circuit breaker open"
    cost = table.input_price[i] * request.prompt_tokens + table.output_price[i] * out
    if request.max_cost_usd is not None and cost > request.max_cost_usd:
        return f"expected cost ${cost:.6f} > max_cost ${request.max_cost_usd:.6f}"
    if remaining_budget_usd is not None and cost > remaining_budget_usd:
        return f"expected cost ${cost:.6f} > remaining daily budget ${remaining_budget_usd:.6f}"
    latency = table.ttft_s[i] + table.per_token_s[i] * max(out - 1, 0)
    measured = latency if math.isnan(table.p95_s[i]) else table.p95_s[i]
    if request.latency_budget_s is not None and measured > request.latency_budget_s:
        return f"latency {measured:.3f}s > budget {request.latency_budget_s:.3f}s"
    return None
