"""Per-backend health: measured latency (EWMA and sliding-window p95s) and a circuit breaker.

Both take the clock as an argument so tests drive them with a fake one. Breaker state is per process (each
worker learns a backend is down from its own calls and probes); latency figures are seeded at start-up from the
analytics rows of recent calls (:mod:`router.seed`), so a restarted process ranks by what it measured before.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from router.config import BackendConfig, BreakerPolicy, LatencyPrior, Timeouts
from router.policy import BackendTable

EWMA_ALPHA = 0.3
WINDOW = 50


def _p95(window: deque[float]) -> float:
    ordered = sorted(window)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


class LatencyStats:
    """Time-to-first-token and per-token time, smoothed; p95s of TTFT and of total latency over the last calls."""

    __slots__ = ("p95_s", "per_token_s", "samples", "ttft_p95_s", "ttft_s", "ttft_window", "window")

    def __init__(self, prior: LatencyPrior) -> None:
        self.ttft_s = prior.ttft_s
        self.per_token_s = 1.0 / prior.tokens_per_s
        self.window: deque[float] = deque(maxlen=WINDOW)
        self.ttft_window: deque[float] = deque(maxlen=WINDOW)
        self.p95_s: float | None = None
        self.ttft_p95_s: float | None = None
        self.samples = 0

    def observe(self, ttft_s: float, total_s: float, output_tokens: int, *, streamed: bool = True) -> None:
        """Fold one successful call into the estimates."""
        if self.samples == 0:
            self.ttft_s = ttft_s
        else:
            self.ttft_s += EWMA_ALPHA * (ttft_s - self.ttft_s)
        if output_tokens > 1:
            per_token = max(total_s - ttft_s, 0.0) / (output_tokens - 1)
            if self.samples == 0:
                self.per_token_s = per_token
            else:
                self.per_token_s += EWMA_ALPHA * (per_token - self.per_token_s)
        self.samples += 1
        self.window.append(total_s)
        self.p95_s = _p95(self.window)
        if streamed:
            self.ttft_window.append(ttft_s)
            self.ttft_p95_s = _p95(self.ttft_window)

    def expected_s(self, output_tokens: int) -> float:
        """Expected latency of a call producing ``output_tokens``."""
        return self.ttft_s + self.per_token_s * max(output_tokens - 1, 0)


class BreakerState(StrEnum):
    """Circuit breaker states."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    """Opens after consecutive failures; while open sends nothing; then lets one probe through.

    The open period doubles after each failed probe, up to ``max_open_s``, so a dead backend costs
    a handful of probes, and a recovered one is back within ``max_open_s``.
    """

    policy: BreakerPolicy
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    open_until: float = 0.0
    open_for_s: float = 0.0
    probe_in_flight: bool = False
    claim_expires: float = 0.0
    """When a claimed trial call counts as abandoned (a claim is always released; this is the backstop)."""
    trial: int = 0
    """Number of the latest trial call claimed: only its holder may give it back."""

    def available(self, now: float) -> bool:
        """Whether a request may be sent now (without claiming the half-open probe)."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            return now >= self.open_until
        return not self.probe_in_flight

    def acquire(self, now: float, hold_s: float = 300.0) -> bool:
        """Claim the right to send one request; moves OPEN to HALF_OPEN when the wait is over.

        In HALF_OPEN exactly one caller gets the trial call; it must release it (success, failure or
        :meth:`release`) on every exit. A claim older than ``hold_s`` counts as abandoned.
        """
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if now < self.open_until:
                return False
            self.state = BreakerState.HALF_OPEN
            self.probe_in_flight = False
        if self.probe_in_flight and now < self.claim_expires:
            return False
        self.probe_in_flight = True
        self.claim_expires = now + hold_s
        self.trial += 1
        return True

    def release(self) -> None:
        """Give back a trial call without a verdict (the request was at fault, or the caller went away)."""
        self.probe_in_flight = False

    def record_success(self) -> None:
        """A call succeeded: close."""
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.open_for_s = 0.0
        self.probe_in_flight = False

    def record_failure(self, now: float, *, severe: bool = False) -> None:
        """A call failed; ``severe`` (unreachable, auth) opens at once."""
        self.probe_in_flight = False
        if self.state is BreakerState.HALF_OPEN:
            self._open(now, min(max(self.open_for_s * 2, self.policy.open_s), self.policy.max_open_s))
            return
        self.failures += 1
        if severe or self.failures >= self.policy.failure_threshold:
            self._open(now, self.policy.open_s)

    def record_probe(self, ok: bool, now: float) -> None:
        """An active (token-free) health probe: success ends an open wait early, failure counts."""
        if ok and self.state is BreakerState.OPEN:
            self.open_until = now
        elif ok and self.state is BreakerState.HALF_OPEN and self.probe_in_flight and now >= self.claim_expires:
            self.probe_in_flight = False
        elif not ok and self.state is BreakerState.CLOSED:
            self.record_failure(now)

    def hold(self, now: float, seconds: float) -> None:
        """Send nothing for ``seconds`` (a Retry-After), then probe as after any open period."""
        self.probe_in_flight = False
        self.state = BreakerState.OPEN
        self.open_until = max(self.open_until, now + seconds)

    def _open(self, now: float, duration: float) -> None:
        self.state = BreakerState.OPEN
        self.open_for_s = duration
        self.open_until = now + duration


class BackendHealth:
    """Every backend's breaker and latency figures, mirrored into the ranking table's columns."""

    def __init__(
        self, backends: list[BackendConfig], policy: BreakerPolicy, table: BackendTable, claim_hold_s: float = 300.0
    ) -> None:
        self.table = table
        self.stats = {b.name: LatencyStats(b.latency_prior) for b in backends}
        self.breakers = {b.name: CircuitBreaker(policy) for b in backends}
        self.claim_hold_s = claim_hold_s

    def acquire(self, name: str, now: float) -> int | None:
        """Claim the right to send one request to ``name``.

        None: refused. 0: a call through a closed breaker (nothing to give back). N > 0: the half-open trial
        call number N, which its holder gives back with :meth:`release` unless a verdict was recorded.
        """
        breaker = self.breakers[name]
        if breaker.state is BreakerState.CLOSED:
            return 0
        allowed = breaker.acquire(now, self.claim_hold_s)
        self._sync(name)
        return breaker.trial if allowed else None

    def release(self, name: str, claim: int | None) -> None:
        """Give back a claim without a verdict (the request itself was at fault, or the call was cancelled).

        Only the trial call's own holder gives it back: a cancelled call that went through the closed breaker
        (claim 0), or whose trial was taken over after its claim expired, must not free another caller's trial.
        """
        breaker = self.breakers[name]
        if claim and breaker.probe_in_flight and breaker.trial == claim:
            breaker.release()
            self._sync(name)

    def observe(self, name: str, ttft_s: float, latency_s: float, output_tokens: int, *, streamed: bool) -> None:
        """Fold one answered call's timings into the backend's figures (and the ranking table)."""
        stats = self.stats[name]
        stats.observe(ttft_s, latency_s, output_tokens, streamed=streamed)
        self.table.set_latency(self.table.index[name], stats.ttft_s, stats.per_token_s, stats.p95_s)

    def succeeded(self, name: str, ttft_s: float, latency_s: float, output_tokens: int, *, streamed: bool) -> None:
        """A complete answer: close the breaker and fold the timings in."""
        breaker = self.breakers[name]
        closed = breaker.state is BreakerState.CLOSED and breaker.failures == 0
        breaker.record_success()
        self.observe(name, ttft_s, latency_s, output_tokens, streamed=streamed)
        if not closed:
            self._sync(name)

    def first_token_limit(
        self, name: str, timeouts: Timeouts, *, streamed: bool, max_tokens: int, has_fallback: bool
    ) -> float:
        """How long ``name`` may stay silent before the call moves on.

        With no fallback left it is the ceiling (``first_token_s``). Otherwise a streamed call gets
        ``first_token_factor`` x the backend's measured TTFT p95 (``first_token_default_s`` before any
        measurement); a non-streamed call, whose whole answer is its first token, the same factor x the
        expected time of a ``max_tokens`` answer. Never less than ``first_token_floor_s``.
        """
        ceiling = timeouts.first_token_s
        if not has_fallback:
            return ceiling
        stats = self.stats[name]
        if streamed:
            measured = stats.ttft_p95_s
            limit = timeouts.first_token_default_s if measured is None else timeouts.first_token_factor * measured
        else:
            limit = timeouts.first_token_factor * stats.expected_s(max_tokens)
        return min(ceiling, max(timeouts.first_token_floor_s, limit))

    def failed(self, name: str, now: float, *, severe: bool, hold_s: float | None = None) -> None:
        """A failed attempt; ``hold_s`` keeps the backend out for a Retry-After."""
        breaker = self.breakers[name]
        breaker.record_failure(now, severe=severe)
        if hold_s:
            breaker.hold(now, hold_s)
        self._sync(name)

    def probed(self, name: str, ok: bool, now: float) -> None:
        """An active health probe's result."""
        self.breakers[name].record_probe(ok, now)
        self._sync(name)

    def _sync(self, name: str) -> None:
        breaker = self.breakers[name]
        i = self.table.index[name]
        if breaker.state is BreakerState.OPEN:
            self.table.set_blocked(i, breaker.open_until)
        elif breaker.state is BreakerState.HALF_OPEN and breaker.probe_in_flight:
            self.table.set_blocked(i, breaker.claim_expires)
        else:
            self.table.set_blocked(i, 0.0)
