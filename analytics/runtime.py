"""The process's analytics: one metrics registry, one writer, one handler, built from settings on first use."""

from __future__ import annotations

import atexit
import functools
from typing import Any, TypeVar

from prometheus_client import REGISTRY

from analytics.callbacks import AnalyticsHandler
from analytics.metrics import Metrics
from analytics.rows import Row
from analytics.sqlite_store import SqliteStore
from analytics.store import PostgresStore, Store
from analytics.writer import RowWriter
from core.errors import SettingsError
from core.prices import PriceTable
from core.settings import Settings, get_settings

GraphT = TypeVar("GraphT")


def settings() -> Settings:
    """The process's settings (core.settings' one cache)."""
    return get_settings()


@functools.cache
def metrics() -> Metrics:
    """The process's metrics, on the default Prometheus registry (what /metrics serves)."""
    return Metrics(REGISTRY)


def make_store(config: Settings) -> Store:
    """Postgres when DATABASE_URL is set, else SQLite next to the checkpoints."""
    if config.database_url:
        return PostgresStore(config.database_url)
    return SqliteStore(config.data_dir / "analytics.sqlite")


@functools.cache
def writer() -> RowWriter:
    """The process's row writer; its thread starts with the first row, and it flushes at exit."""
    config = settings()
    row_writer = RowWriter(
        lambda: make_store(config),
        metrics(),
        spill_dir=config.data_dir / "analytics-spill",
        quarantine_dir=config.data_dir / "analytics-quarantine",
        retention_days=config.analytics_retention_days,
    )
    row_writer.add_source(handler().drain)  # node runs are recorded on the writer's thread
    atexit.register(row_writer.close)
    return row_writer


def _enqueue(row: Row) -> None:
    writer().enqueue(row)


def _prices() -> PriceTable:
    return PriceTable.load(settings().prices_file)


@functools.cache
def handler() -> AnalyticsHandler:
    """The callback handler every graph run carries; settings are read on its first event, not at import."""
    return AnalyticsHandler(metrics(), _enqueue, _prices)


def _hooks_on() -> bool:
    """False only with TRADEFLOW_SERVER_HOOKS=off (benchmarks: the graph served bare, to measure the handler)."""
    try:
        return settings().server_hooks
    except SettingsError:
        return True  # a graph module is imported before the entry point reports the bad setting, naming it


def instrument(graph: GraphT, graph_id: str, version: str | None = None) -> GraphT:
    """The graph with the analytics handler, its id and (when known) its version in every run's config."""
    metadata = {"graph_id": graph_id} | ({"workflow_version": version} if version else {})
    callbacks = [handler()] if _hooks_on() else []
    config: Any = {"callbacks": callbacks, "metadata": metadata}
    instrumented: GraphT = graph.with_config(config)  # type: ignore[attr-defined]
    return instrumented
