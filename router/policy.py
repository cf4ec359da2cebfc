"""Ranking: one pure scoring function over the backend table (no I/O, no clock reads).

For every backend that can take the request::

    expected_cost    = prompt_tokens x input_price + expected_output_tokens x output_price
    expected_latency = ewma_ttft + ewma_per_token x (expected_output_tokens - 1)
    quality_gap      = (5 - quality_tier) / 4

    score = w_cost x cost / max(cost) + w_latency x latency / max(latency) + w_quality x quality_gap

with the maxima taken over the eligible candidates (a zero maximum contributes zero). ``cost`` uses
weights (1, 0, 0), ``performance`` (0, 1, 0), ``balanced`` the configured weights normalised to sum
to 1. Lower is better; ties go to the backend whose name sorts first.

What it costs per call. The checks that depend only on the configuration (enabled, capabilities, largest
answer) are answered once per distinct (capabilities, max_tokens) and kept; the context-window and breaker
checks are skipped when no backend could fail them. Small tables (the usual three or four backends) are then
ranked in plain Python; from :data:`VECTOR_FROM` backends on, the table is also held as numpy columns in name
order, and ranked with about a dozen vector operations (numpy is imported only then).

The figures that change while the router runs (prices, measured latency, breakers, disabled backends) live in
one :class:`Live` snapshot that is replaced, never changed in place. A ranking keeps the snapshot it was made
from, so the exclusion reasons it writes out when read, later, say what was true when it was made.
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
_STATIC_CACHE_SIZE = 256
_UNSEEN: Any = object()


def weights_for(strategy: Strategy, balanced: Weights) -> tuple[float, float, float]:
    """The (cost, latency, quality) weights of a strategy, summing to 1."""
    if strategy in STRATEGY_WEIGHTS:
        return STRATEGY_WEIGHTS[strategy]
    total = balanced.cost + balanced.latency + balanced.quality
    return (balanced.cost / total, balanced.latency / total, balanced.quality / total)


class Live:
    """The per-backend figures that change while the router runs, in table order (one snapshot; never mutated).

    For large tables it also carries them as numpy columns in name order (:class:`_Columns`).
    """

    __slots__ = (
        "blocked_max", "blocked_until", "disabled_reason", "enabled", "input_price", "output_price", "p95_s",
        "per_token_s", "ttft_s", "v_blocked", "v_input_price", "v_output_price", "v_p95", "v_per_token_s", "v_ttft_s",
    )  # fmt: skip

    input_price: list[float]
    output_price: list[float]
    ttft_s: list[float]
    per_token_s: list[float]
    p95_s: list[float]
    """Measured p95 of the whole call; NaN until measured."""
    blocked_until: list[float]
    blocked_max: float
    """The latest ``blocked_until``: no breaker check is needed at a later time."""
    enabled: list[bool]
    disabled_reason: dict[str, str]
    # The same as numpy columns in name order, for large tables (None for small ones).
    v_input_price: Any
    v_output_price: Any
    v_ttft_s: Any
    v_per_token_s: Any
    v_p95: Any
    v_blocked: Any

    def copy(self) -> Live:
        """A shallow copy, to change one column of (copy that column before changing it)."""
        new = Live.__new__(Live)
        new.input_price, new.output_price, new.ttft_s, new.per_token_s, new.p95_s = (
            self.input_price, self.output_price, self.ttft_s, self.per_token_s, self.p95_s,
        )  # fmt: skip
        new.blocked_until, new.blocked_max, new.enabled, new.disabled_reason = (
            self.blocked_until, self.blocked_max, self.enabled, self.disabled_reason,
        )  # fmt: skip
        new.v_input_price, new.v_output_price, new.v_ttft_s, new.v_per_token_s, new.v_p95, new.v_blocked = (
            self.v_input_price, self.v_output_price, self.v_ttft_s, self.v_per_token_s, self.v_p95, self.v_blocked,
        )  # fmt: skip
        return new


class BackendTable:
    """The backends as columns: static terms, plus a :class:`Live` snapshot replaced whenever a figure changes."""

    def __init__(self, configs: Sequence[BackendConfig], prices: Sequence[Price]) -> None:
        self.names = [c.name for c in configs]
        self.models = [c.model for c in configs]
        self.index = {name: i for i, name in enumerate(self.names)}
        capabilities = sorted({cap for c in configs for cap in c.capabilities})
        self.capability_bits = {cap: 1 << i for i, cap in enumerate(capabilities)}
        self.capability_masks = [sum(self.capability_bits[cap] for cap in c.capabilities) for c in configs]
        self.context_window = [c.context_window for c in configs]
        self.max_output_tokens = [c.max_output_tokens for c in configs]
        self.quality_gap = [(5 - c.quality_tier) / 4 for c in configs]
        order = sorted(range(len(configs)), key=self.names.__getitem__)
        self.name_rank = [0] * len(configs)
        for position, i in enumerate(order):
            self.name_rank[i] = position
        self._static: dict[tuple[frozenset[str], int], tuple[Any, int] | None] = {}
        self.columns: _Columns | None = _Columns(self, order) if len(configs) >= VECTOR_FROM else None
        live = Live()
        live.input_price = [p.input_per_1m / 1e6 for p in prices]
        live.output_price = [p.output_per_1m / 1e6 for p in prices]
        live.ttft_s = [c.latency_prior.ttft_s for c in configs]
        live.per_token_s = [1 / c.latency_prior.tokens_per_s for c in configs]
        live.p95_s = [math.nan] * len(configs)
        live.blocked_until = [0.0] * len(configs)
        live.blocked_max = 0.0
        live.enabled = [True] * len(configs)
        live.disabled_reason = {}
        live.v_input_price = live.v_output_price = live.v_ttft_s = live.v_per_token_s = None
        live.v_p95 = live.v_blocked = None
        if self.columns is not None:
            self.columns.fill(live)
        self.live = live

    def __len__(self) -> int:
        return len(self.names)

    # Read-only views of the current snapshot, by their old names.
    @property
    def ttft_s(self) -> list[float]:
        """Expected time to first token per backend (current snapshot)."""
        return self.live.ttft_s

    @property
    def per_token_s(self) -> list[float]:
        """Expected time per further token per backend (current snapshot)."""
        return self.live.per_token_s

    @property
    def disabled_reason(self) -> dict[str, str]:
        """Backends taken out of every ranking, with the reason (current snapshot)."""
        return self.live.disabled_reason

    def disable(self, name: str, reason: str) -> None:
        """Take a backend out of every ranking (missing key, provider filter)."""
        i = self.index[name]
        live = self.live.copy()
        live.enabled = list(live.enabled)
        live.enabled[i] = False
        live.disabled_reason = {**live.disabled_reason, name: reason}
        self._static = {}
        self.live = live

    def set_prices(self, prices: Sequence[Price]) -> None:
        """New prices in force (a price table entry's ``valid_from`` has passed)."""
        live = self.live.copy()
        live.input_price = [p.input_per_1m / 1e6 for p in prices]
        live.output_price = [p.output_per_1m / 1e6 for p in prices]
        if self.columns is not None:
            self.columns.fill(live)
        self.live = live

    def set_latency(self, i: int, ttft_s: float, per_token_s: float, p95_s: float | None) -> None:
        """Measured latency of backend ``i`` (p95 None: not measured yet)."""
        p95 = math.nan if p95_s is None else p95_s
        live = self.live.copy()
        live.ttft_s, live.per_token_s, live.p95_s = list(live.ttft_s), list(live.per_token_s), list(live.p95_s)
        live.ttft_s[i], live.per_token_s[i], live.p95_s[i] = ttft_s, per_token_s, p95
        if self.columns is not None:
            at = self.columns.position[i]
            live.v_ttft_s, live.v_per_token_s, live.v_p95 = (
                live.v_ttft_s.copy(), live.v_per_token_s.copy(), live.v_p95.copy(),
            )  # fmt: skip
            live.v_ttft_s[at], live.v_per_token_s[at], live.v_p95[at] = ttft_s, per_token_s, p95
        self.live = live

    def set_blocked(self, i: int, until: float) -> None:
        """Backend ``i`` takes no request before ``until`` (clock seconds; ``inf`` while a trial call runs)."""
        if self.live.blocked_until[i] == until:
            return
        live = self.live.copy()
        live.blocked_until = list(live.blocked_until)
        live.blocked_until[i] = until
        live.blocked_max = max(live.blocked_until)
        if self.columns is not None:
            live.v_blocked = live.v_blocked.copy()
            live.v_blocked[self.columns.position[i]] = until
        self.live = live

    def mask_for(self, capabilities: frozenset[str]) -> int | None:
        """Bit mask of ``capabilities``; None when one of them no backend has."""
        mask = 0
        for cap in capabilities:
            bit = self.capability_bits.get(cap)
            if bit is None:
                return None
            mask |= bit
        return mask

    def static_fit(self, capabilities: frozenset[str], max_tokens: int) -> tuple[Any, int] | None:
        """Backends that pass every check fixed by the configuration, and the smallest context window among them.

        The backends are table indices, ascending (numpy positions in name order for large tables); None when
        none passes. Kept per (capabilities, max_tokens), forgotten when a backend is disabled.
        """
        key = (capabilities, max_tokens)
        try:
            return self._static[key]
        except KeyError:
            pass
        required = self.mask_for(capabilities)
        enabled = self.live.enabled
        masks, largest = self.capability_masks, self.max_output_tokens
        fit = [] if required is None else [
            i for i in range(len(self.names))
            if enabled[i] and largest[i] >= max_tokens and masks[i] & required == required
        ]  # fmt: skip
        found: tuple[Any, int] | None = None
        if fit:
            smallest = min(self.context_window[i] for i in fit)
            found = (fit, smallest) if self.columns is None else (self.columns.positions_of(fit), smallest)
        if len(self._static) >= _STATIC_CACHE_SIZE:
            self._static = {}
        self._static[key] = found
        return found


class _Columns:
    """The table as numpy arrays in name order (so a stable sort breaks ties by name), for large tables."""

    def __init__(self, table: BackendTable, order: list[int]) -> None:
        import numpy as np

        self.np = np
        self.order = order
        """Table index of each position (positions are in name order)."""
        self.position = [0] * len(order)
        for at, i in enumerate(order):
            self.position[i] = at
        self.table_index = np.array(order, dtype=np.intp)
        self.names = np.array([table.names[i] for i in order], dtype=object)
        self.context_window = np.array([table.context_window[i] for i in order], dtype=np.int64)
        self.quality_gap = np.array([table.quality_gap[i] for i in order], dtype=np.float64)
        self._weighted_gap: dict[float, Any] = {}

    def fill(self, live: Live) -> None:
        """Set ``live``'s numpy columns from its lists."""
        np, order = self.np, self.order
        live.v_input_price = np.array([live.input_price[i] for i in order], dtype=np.float64)
        live.v_output_price = np.array([live.output_price[i] for i in order], dtype=np.float64)
        live.v_ttft_s = np.array([live.ttft_s[i] for i in order], dtype=np.float64)
        live.v_per_token_s = np.array([live.per_token_s[i] for i in order], dtype=np.float64)
        live.v_p95 = np.array([live.p95_s[i] for i in order], dtype=np.float64)
        live.v_blocked = np.array([live.blocked_until[i] for i in order], dtype=np.float64)

    def weighted_gap(self, weight: float) -> Any:
        """``weight`` x the quality gap of every backend (kept per weight: a table has a few strategies)."""
        found = self._weighted_gap.get(weight)
        if found is None:
            found = self._weighted_gap[weight] = self.quality_gap * weight
        return found

    def positions_of(self, indices: list[int]) -> Any:
        """Name-order positions of table ``indices``, ascending."""
        return self.np.array(sorted(self.position[i] for i in indices), dtype=self.np.intp)


class Ranking:
    """Eligible backends best first, with their terms; excluded backends with the reason (built when read)."""

    __slots__ = ("_costs", "_excluded", "_lats", "_live", "_order", "_rows", "_scores", "_table", "_vector", "_why",
                 "names", "weights")  # fmt: skip

    def __init__(
        self,
        table: BackendTable,
        live: Live,
        names: list[str],
        weights: tuple[float, float, float],
        why: tuple[RouteRequest, float | None, float],
        rows: list[tuple[float, int, int, float, float]] | None = None,
        vector: tuple[Any, Any, Any, Any, Any, int] | None = None,
    ) -> None:
        self._table = table
        self._live = live
        self.names = names
        """Names of the eligible backends, best first (do not change: ``order`` is built from it)."""
        self.weights = weights
        self._why = why
        self._rows = rows
        """Python path: (score, name rank, index, cost, latency) best first."""
        self._scores: list[float] = []
        self._costs: list[float] = []
        self._lats: list[float] = []
        self._vector = vector
        """numpy path: scores, costs and latencies (None: not computed) unsorted, their order, the name-order
        positions in that order and the output tokens after the first; written out in order when read."""
        self._order: tuple[str, ...] | None = None
        self._excluded: dict[str, str] | None = None

    def __len__(self) -> int:
        return len(self.names)

    def _sorted(self) -> None:
        """Write the terms out in ``order`` (once, when first read)."""
        if self._vector is not None:
            scores, costs, lats, order, ranked, tail = self._vector
            self._vector = None
            self._scores, self._costs = scores.take(order).tolist(), costs.take(order).tolist()
            if lats is None:  # not needed to rank: from the figures the ranking was made with
                self._lats = (self._live.v_ttft_s.take(ranked) + self._live.v_per_token_s.take(ranked) * tail).tolist()
            else:
                self._lats = lats.take(order).tolist()
        elif self._rows is not None:
            rows, self._rows = self._rows, None
            self._scores, self._costs, self._lats = [r[0] for r in rows], [r[3] for r in rows], [r[4] for r in rows]

    def cost_at(self, position: int) -> float:
        """Expected cost on the backend at ``position`` in ``order``."""
        if self._vector is not None:
            return float(self._vector[1][self._vector[3][position]])  # costs[order[position]]
        if self._rows is not None:
            return self._rows[position][3]
        return self._costs[position]

    @property
    def order(self) -> tuple[str, ...]:
        """Names of the eligible backends, best first."""
        if self._order is None:
            self._order = tuple(self.names)
        return self._order

    @property
    def scores(self) -> tuple[float, ...]:
        """Scores in ``order``."""
        self._sorted()
        return tuple(self._scores)

    @property
    def expected_cost_usd(self) -> tuple[float, ...]:
        """Expected cost of the request on each backend, in ``order``."""
        self._sorted()
        return tuple(self._costs)

    @property
    def expected_latency_s(self) -> tuple[float, ...]:
        """Expected latency on each backend, in ``order``."""
        self._sorted()
        return tuple(self._lats)

    @property
    def excluded(self) -> dict[str, str]:
        """Why each other backend could not take the request when ranked (first failing check)."""
        if self._excluded is None:
            request, remaining, now = self._why
            eligible = set(self.names)
            self._excluded = {
                name: exclusion_reason(self._table, i, request, remaining, now, self._live) or "not eligible"
                for i, name in enumerate(self._table.names)
                if name not in eligible
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
    live = table.live
    why = (request, remaining_budget_usd, now)
    fit = table._static.get((request.required_capabilities, request.max_tokens), _UNSEEN)
    if fit is _UNSEEN:
        fit = table.static_fit(request.required_capabilities, request.max_tokens)
    if fit is None:
        return Ranking(table, live, [], weights, why)
    if table.columns is not None:
        return _rank_columns(request, table, table.columns, live, fit, weights, why)
    prompt = request.prompt_tokens
    need = prompt + request.max_tokens
    out = request.output_tokens_estimate
    tail = out - 1 if out > 1 else 0
    max_cost = request.max_cost_usd
    if remaining_budget_usd is not None and (max_cost is None or remaining_budget_usd < max_cost):
        max_cost = remaining_budget_usd
    latency_budget = request.latency_budget_s
    indices, smallest_window = fit
    if need > smallest_window:
        window = table.context_window
        indices = [i for i in indices if window[i] >= need]
    if live.blocked_max > now:
        blocked = live.blocked_until
        indices = [i for i in indices if blocked[i] <= now]
    input_price, output_price, ttft, per_token, p95 = (
        live.input_price, live.output_price, live.ttft_s, live.per_token_s, live.p95_s,
    )  # fmt: skip
    rows: list[tuple[int, float, float]] = []
    max_c = max_l = 0.0  # costs and latencies are never negative: 0.0 is a safe start (and weighs 0 if it stays)
    for i in indices:
        cost = input_price[i] * prompt + output_price[i] * out
        if max_cost is not None and cost > max_cost:
            continue
        latency = ttft[i] + per_token[i] * tail
        if latency_budget is not None:
            measured = p95[i]
            if (latency if measured != measured else measured) > latency_budget:  # NaN: not measured
                continue
        if cost > max_c:
            max_c = cost
        if latency > max_l:
            max_l = latency
        rows.append((i, cost, latency))
    if not rows:
        return Ranking(table, live, [], weights, why)
    w_c = weights[0] / max_c if max_c > 0 else 0.0
    w_l = weights[1] / max_l if max_l > 0 else 0.0
    w_q = weights[2]
    gap, name_rank, names = table.quality_gap, table.name_rank, table.names
    scored = [(w_c * c + w_l * lat + w_q * gap[i], name_rank[i], i, c, lat) for i, c, lat in rows]
    if len(scored) > 1:
        scored.sort()
    return Ranking(table, live, [names[s[2]] for s in scored], weights, why, rows=scored)


def _rank_columns(
    request: RouteRequest,
    table: BackendTable,
    cols: _Columns,
    live: Live,
    fit: tuple[Any, int],
    weights: tuple[float, float, float],
    why: tuple[RouteRequest, float | None, float],
) -> Ranking:
    # One-dimensional arrays and ndarray.take throughout: at ~100 entries each numpy call costs its dispatch
    # (~0.5-1 us), not its arithmetic, and these are the cheapest calls to dispatch.
    np = cols.np
    _, remaining_budget_usd, now = why
    prompt = request.prompt_tokens
    out = request.output_tokens_estimate
    positions, smallest_window = fit
    if prompt + request.max_tokens > smallest_window:
        positions = positions[cols.context_window.take(positions) >= prompt + request.max_tokens]
    if live.blocked_max > now:
        positions = positions[live.v_blocked.take(positions) <= now]
    tail = max(out - 1, 0)
    costs = live.v_input_price.take(positions) * prompt + live.v_output_price.take(positions) * out
    w_cost, w_lat, w_quality = weights
    latency_budget = request.latency_budget_s
    # Latency is needed now only to score or to filter by it; otherwise it is worked out when read.
    lats: Any = None
    if w_lat or latency_budget is not None:
        lats = live.v_ttft_s.take(positions) + live.v_per_token_s.take(positions) * tail
    keep: Any = None
    max_cost = request.max_cost_usd
    if remaining_budget_usd is not None and (max_cost is None or remaining_budget_usd < max_cost):
        max_cost = remaining_budget_usd
    if max_cost is not None:
        keep = costs <= max_cost
    if latency_budget is not None:
        p95 = live.v_p95.take(positions)
        fast = np.where(np.isnan(p95), lats, p95) <= latency_budget
        keep = fast if keep is None else keep & fast
    if keep is not None:
        positions, costs = positions[keep], costs[keep]
        lats = None if lats is None else lats[keep]
    if positions.size == 0:
        return Ranking(table, live, [], weights, why)
    # Terms with a zero weight add exactly 0.0 to every score: they are left out, as the Python path adds them.
    scores = costs * (w_cost / max_c) if w_cost and (max_c := float(np.maximum.reduce(costs))) > 0 else costs * 0.0
    if w_lat and (max_l := float(np.maximum.reduce(lats))) > 0:
        scores += lats * (w_lat / max_l)
    if w_quality:
        scores += cols.weighted_gap(w_quality).take(positions)
    order = scores.argsort(kind="stable")  # positions ascend in name order: ties go to the first name
    ranked = positions.take(order)
    names: list[str] = cols.names.take(ranked).tolist()
    return Ranking(table, live, names, weights, why, vector=(scores, costs, lats, order, ranked, tail))


def exclusion_reason(
    table: BackendTable,
    i: int,
    request: RouteRequest,
    remaining_budget_usd: float | None,
    now: float,
    live: Live | None = None,
) -> str | None:
    """Why backend ``i`` cannot take ``request`` (the first failing check), or None when it can.

    ``live``: the figures to judge by (a ranking's snapshot); the table's current ones by default.
    """
    live = table.live if live is None else live
    name = table.names[i]
    need = request.prompt_tokens + request.max_tokens
    out = request.output_tokens_estimate
    if not live.enabled[i]:
        return live.disabled_reason[name]
    if table.context_window[i] < need:
        return f"context window {table.context_window[i]} < {need} tokens (prompt + max_tokens)"
    if table.max_output_tokens[i] < request.max_tokens:
        return f"max output {table.max_output_tokens[i]} < max_tokens {request.max_tokens}"
    required = table.mask_for(request.required_capabilities)
    if required is None or table.capability_masks[i] & required != required:
        return f"lacks capabilities {sorted(request.required_capabilities)}"
    if live.blocked_until[i] > now:
        return "circuit breaker open"
    cost = live.input_price[i] * request.prompt_tokens + live.output_price[i] * out
    if request.max_cost_usd is not None and cost > request.max_cost_usd:
        return f"expected cost ${cost:.6f} > max_cost ${request.max_cost_usd:.6f}"
    if remaining_budget_usd is not None and cost > remaining_budget_usd:
        return f"expected cost ${cost:.6f} > remaining daily budget ${remaining_budget_usd:.6f}"
    latency = live.ttft_s[i] + live.per_token_s[i] * max(out - 1, 0)
    measured = latency if math.isnan(live.p95_s[i]) else live.p95_s[i]
    if request.latency_budget_s is not None and measured > request.latency_budget_s:
        return f"latency {measured:.3f}s > budget {request.latency_budget_s:.3f}s"
    return None
