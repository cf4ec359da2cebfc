"""Circuit breaker state machine and latency estimates, on a fake clock."""

from __future__ import annotations

import pytest

from core.prices import Price
from router.config import BackendConfig, BreakerPolicy, LatencyPrior
from router.health import BackendHealth, BreakerState, CircuitBreaker, LatencyStats
from router.policy import BackendTable


def _breaker() -> CircuitBreaker:
    return CircuitBreaker(BreakerPolicy(failure_threshold=3, open_s=1.0, max_open_s=4.0))


def test_opens_after_consecutive_failures_and_sends_nothing_while_open() -> None:
    breaker = _breaker()
    for now in (0.0, 0.1):
        breaker.record_failure(now)
        assert breaker.state is BreakerState.CLOSED
    breaker.record_failure(0.2)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.acquire(0.5)
    assert not breaker.available(1.19)


def test_success_resets_the_failure_count() -> None:
    breaker = _breaker()
    breaker.record_failure(0)
    breaker.record_failure(0)
    breaker.record_success()
    breaker.record_failure(0)
    assert breaker.state is BreakerState.CLOSED


def test_half_open_lets_exactly_one_probe_through_and_success_closes() -> None:
    breaker = _breaker()
    breaker.record_failure(0, severe=True)
    assert breaker.state is BreakerState.OPEN
    assert breaker.acquire(1.0)
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.acquire(1.0)  # the probe is in flight
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.acquire(1.0)
    assert breaker.acquire(1.0)


def test_failed_probes_double_the_wait_up_to_the_cap() -> None:
    breaker = _breaker()
    breaker.record_failure(0, severe=True)
    now, waits = 0.0, []
    for _ in range(5):
        now = breaker.open_until
        assert breaker.acquire(now)
        breaker.record_failure(now)
        waits.append(breaker.open_until - now)
    assert waits == [2.0, 4.0, 4.0, 4.0, 4.0]


def test_active_probe_success_ends_the_wait_and_failure_counts() -> None:
    breaker = _breaker()
    breaker.record_failure(0, severe=True)
    breaker.record_probe(True, 0.3)
    assert breaker.acquire(0.3)
    fresh = _breaker()
    for _ in range(3):
        fresh.record_probe(False, 0)
    assert fresh.state is BreakerState.OPEN


def test_latency_ewma_tracks_measurements_and_p95() -> None:
    stats = LatencyStats(LatencyPrior(ttft_s=1.0, tokens_per_s=10))
    assert stats.expected_s(11) == pytest.approx(2.0)
    stats.observe(ttft_s=0.2, total_s=1.2, output_tokens=11)
    assert (stats.ttft_s, stats.per_token_s) == pytest.approx((0.2, 0.1))
    stats.observe(ttft_s=0.4, total_s=1.4, output_tokens=11)
    assert stats.ttft_s == pytest.approx(0.2 + 0.3 * 0.2)
    for total in [1.0] * 18 + [9.0, 9.5]:
        stats.observe(ttft_s=0.1, total_s=total, output_tokens=2)
    assert stats.p95_s == 9.0


def _health() -> BackendHealth:
    backend = BackendConfig(name="b", kind="openai", model="m", context_window=8000, max_output_tokens=1000)
    table = BackendTable([backend], [Price(1.0, 1.0, 1.0, "test")])
    return BackendHealth([backend], BreakerPolicy(failure_threshold=1, open_s=1.0, max_open_s=4.0), table)


def test_only_the_trial_calls_holder_gives_it_back() -> None:
    """Regression: release() gave back whatever trial call was in flight, so a call cancelled after passing the
    closed breaker (or one whose expired claim was taken over) freed another caller's trial, and a second
    trial call went out at once to a backend that had just failed."""
    health = _health()
    plain = health.acquire("b", 0.0)
    assert plain == 0  # through the closed breaker: nothing to give back
    health.failed("b", 0.0, severe=True)
    trial = health.acquire("b", 1.5)
    assert trial
    health.release("b", plain)  # the earlier call is cancelled now
    assert health.acquire("b", 1.5) is None  # the trial is still the holder's
    health.release("b", trial)
    assert health.acquire("b", 1.5)


def test_an_expired_claims_holder_does_not_free_its_successor() -> None:
    health = _health()
    health.failed("b", 0.0, severe=True)
    first = health.acquire("b", 1.5)
    second = health.acquire("b", 1.5 + health.claim_hold_s + 1)  # the first claim counts as abandoned
    assert first
    assert second
    assert first != second
    health.release("b", first)
    assert health.acquire("b", 1.5 + health.claim_hold_s + 1) is None
