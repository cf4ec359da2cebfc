"""Router state as Prometheus metrics, read at scrape time from the process's router."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from router.runtime import process_router

BREAKER_VALUE = {"closed": 0, "half_open": 1, "open": 2}


class BreakerCollector(Collector):
    """``tradeflow_router_breaker_state{backend}``: 0 closed, 1 half-open, 2 open."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One sample per backend in the router's table."""
        family = GaugeMetricFamily(
            "tradeflow_router_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
            labels=["backend"],
        )
        for name, breaker in process_router().health.breakers.items():
            family.add_metric([name], BREAKER_VALUE[str(breaker.state)])
        yield family


_registered = False


def register_breaker_collector() -> None:
    """Add the collector to the default registry once per process."""
    global _registered
    if not _registered:
        REGISTRY.register(BreakerCollector())
        _registered = True
