"""The callback handler and the writer, with an in-memory registry and SQLite."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from analytics.callbacks import AnalyticsHandler
from analytics.errors import StoreUnavailableError
from analytics.metrics import Metrics
from analytics.rows import NodeRunRow, Row, WorkflowRunRow
from analytics.sqlite_store import SqliteStore
from analytics.writer import RowWriter
from core.prices import PriceTable
from graphs.registry import load_builder
from tests.support.examples import example_input

FORBIDDEN_LABELS = {"run_id", "thread_id", "user", "prompt", "request_id", "decision_id"}


def _handler() -> tuple[AnalyticsHandler, list[Row], Metrics]:
    rows: list[Row] = []
    metrics = Metrics(CollectorRegistry())
    return AnalyticsHandler(metrics, rows.append, PriceTable.load()), rows, metrics


def test_graph_and_node_runs_become_rows_and_metrics() -> None:
    handler, rows, metrics = _handler()
    graph = load_builder("heartbeat").compile()
    for _ in range(3):
        asyncio.run(graph.ainvoke({"message": "x"}, {"callbacks": [handler], "metadata": {"graph_id": "heartbeat"}}))
    runs = [r for r in rows if isinstance(r, WorkflowRunRow)]
    assert len(runs) == 3
    # node runs wait (as two clock readings each) until drained: by the writer's thread or a /metrics scrape
    assert not [r for r in rows if isinstance(r, NodeRunRow)]
    node_count = {"workflow": "heartbeat", "node": "stamp"}
    assert metrics.registry.get_sample_value("tradeflow_node_duration_seconds_count", node_count) is None
    assert handler.drain() == 3
    assert handler.drain() == 0
    assert metrics.registry.get_sample_value("tradeflow_node_duration_seconds_count", node_count) == 3
    nodes = [r for r in rows if isinstance(r, NodeRunRow)]
    assert len(nodes) == 3
    assert {(r.workflow, r.status, r.version) for r in runs} == {("heartbeat", "success", "unversioned")}
    assert {n.node for n in nodes} == {"stamp"}
    assert {n.run_id for n in nodes} == {r.run_id for r in runs}
    value = metrics.registry.get_sample_value(
        "tradeflow_workflow_runs_total", {"workflow": "heartbeat", "version": "unversioned", "status": "success"}
    )
    assert value == 3
    assert handler.open_runs == 0  # nothing left behind
    assert all(0 < n.duration_s < 5 and abs((n.ts - datetime.now(UTC)).total_seconds()) < 60 for n in nodes)


def test_label_sets_are_bounded() -> None:
    handler, _, metrics = _handler()
    graph = load_builder("heartbeat").compile()
    asyncio.run(graph.ainvoke({"message": "x"}, {"callbacks": [handler], "metadata": {"graph_id": "heartbeat"}}))
    expected = {
        "tradeflow_workflow_runs": {"workflow", "version", "status"},
        "tradeflow_workflow_duration_seconds": {"workflow", "version"},
        "tradeflow_node_duration_seconds": {"workflow", "node"},
        "gen_ai_client_token_usage": {"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model",
                                      "gen_ai_token_type"},
        "gen_ai_client_operation_duration_seconds": {"gen_ai_operation_name", "gen_ai_provider_name",
                                                     "gen_ai_request_model"},
        "tradeflow_llm_cost_usd": {"provider", "model", "workflow"},
        "tradeflow_router_decisions": {"workflow", "strategy", "backend", "outcome"},
        "tradeflow_router_attempts": {"backend", "outcome", "error_class"},
        "tradeflow_router_fallbacks": {"from_backend", "error_class"},
        "tradeflow_analytics_rows_dropped": {"table", "reason"},
        "tradeflow_analytics_rows_quarantined": {"table", "reason"},
        "tradeflow_analytics_rows_spilled": set(),
        "tradeflow_analytics_rows_written": {"table"},
    }  # fmt: skip
    found = {m._name: set(m._labelnames) for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)}
    assert found == expected
    assert not any(labels & FORBIDDEN_LABELS for labels in found.values())


def _rows(n: int, day: datetime | None = None) -> list[Row]:
    ts = day or datetime.now(UTC)
    return [WorkflowRunRow(ts, f"r{i}", None, "w", "v1", "success" if i % 4 else "error", 0.5, None) for i in range(n)]


def test_writer_writes_every_row_in_batches(tmp_path: Path) -> None:
    metrics = Metrics(CollectorRegistry())
    store = SqliteStore(tmp_path / "a.sqlite")
    writer = RowWriter(lambda: store, metrics, spill_dir=tmp_path / "spill", batch_size=100)
    for row in _rows(1234):
        writer.enqueue(row)
    writer.close()
    reopened = SqliteStore(tmp_path / "a.sqlite")
    assert reopened.fetch("SELECT count(*) FROM workflow_runs", {}) == [(1234,)]
    assert reopened.fetch("SELECT sum(runs), sum(successes) FROM workflow_runs_hourly", {}) == [(1234, 925)]
    assert (
        metrics.registry.get_sample_value("tradeflow_analytics_rows_written_total", {"table": "workflow_runs"}) == 1234
    )


class FlakyStore(SqliteStore):
    """A real SQLite store that refuses writes while ``down`` (a test double for an outage)."""

    down = True

    def write(self, rows):  # type: ignore[no-untyped-def]
        if self.down:
            raise StoreUnavailableError("store down")
        super().write(rows)


def test_outage_rows_wait_then_spill_then_replay(tmp_path: Path) -> None:
    metrics = Metrics(CollectorRegistry())
    store = FlakyStore(tmp_path / "a.sqlite")
    spill = tmp_path / "spill"
    writer = RowWriter(lambda: store, metrics, spill_dir=spill, spill_after_s=0.0, batch_size=50)
    for row in _rows(120):
        writer.enqueue(row)
    writer.flush()
    assert len(list(spill.glob("*.jsonl"))) == 1
    assert writer.pending == 0
    assert metrics.registry.get_sample_value("tradeflow_analytics_rows_spilled_total") == 120
    store.down = False
    for row in _rows(30):
        writer.enqueue(row)
    writer.close()
    assert list(spill.iterdir()) == []
    assert SqliteStore(tmp_path / "a.sqlite").fetch("SELECT count(*) FROM workflow_runs", {}) == [(150,)]


def test_rows_are_dropped_and_counted_only_when_queue_and_spill_are_full(tmp_path: Path) -> None:
    metrics = Metrics(CollectorRegistry())
    store = FlakyStore(tmp_path / "a.sqlite")
    writer = RowWriter(lambda: store, metrics, spill_dir=tmp_path / "spill", max_queue=10, max_spill_rows=20,
                       spill_after_s=0.0, batch_size=5)  # fmt: skip
    writer._start = lambda: None  # type: ignore[method-assign]  # drive the flusher by hand
    for row in _rows(10):
        writer.enqueue(row)
    writer.flush()  # 10 spilled
    for row in _rows(10):
        writer.enqueue(row)
    writer.flush()  # 20 spilled: the spill file is full
    for row in _rows(15):
        writer.enqueue(row)  # 10 queued, 5 dropped
    assert (
        metrics.registry.get_sample_value(
            "tradeflow_analytics_rows_dropped_total", {"table": "workflow_runs", "reason": "queue_full"}
        )
        == 5
    )
    store.down = False
    writer.flush()
    assert store.fetch("SELECT count(*) FROM workflow_runs", {}) == [(30,)]


async def test_a_run_waiting_for_approval_counts_as_interrupted(llm_double, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import model_env

    for key, value in model_env(llm_double, "openai").items():
        monkeypatch.setenv(key, value)
    from langgraph.checkpoint.memory import InMemorySaver

    handler, rows, _ = _handler()
    graph = load_builder("trade_break_triage").compile(checkpointer=InMemorySaver())
    payload = example_input("trade_break_triage")
    config = {"callbacks": [handler], "metadata": {"graph_id": "trade_break_triage"},
              "configurable": {"thread_id": "t"}}  # fmt: skip
    await graph.ainvoke(payload, config)
    statuses = [r.status for r in rows if isinstance(r, WorkflowRunRow)]
    assert statuses == ["interrupted"]
    handler.drain()
    node_statuses = [r.status for r in rows if isinstance(r, NodeRunRow)]
    assert node_statuses.count("interrupted") == 1  # the approval node
    assert handler.open_runs == 0


def test_the_writer_drains_node_runs_at_every_flush(tmp_path: Path) -> None:
    metrics = Metrics(CollectorRegistry())
    store = SqliteStore(tmp_path / "a.sqlite")
    writer = RowWriter(lambda: store, metrics, spill_dir=tmp_path / "spill", interval_s=60)
    handler = AnalyticsHandler(metrics, writer.enqueue, PriceTable.load())
    writer.add_source(handler.drain)
    graph = load_builder("heartbeat").compile()
    for _ in range(4):
        asyncio.run(graph.ainvoke({"message": "x"}, {"callbacks": [handler], "metadata": {"graph_id": "heartbeat"}}))
    assert writer.flush() == 8  # 4 workflow runs + 4 node runs
    assert store.fetch("SELECT count(*) FROM node_runs", {}) == [(4,)]
    writer.close()


def test_undrained_node_runs_stay_bounded_and_are_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("analytics.callbacks.MAX_PENDING", 5)
    handler, rows, _ = _handler()
    graph = load_builder("heartbeat").compile()
    for _ in range(12):
        asyncio.run(graph.ainvoke({"message": "x"}, {"callbacks": [handler], "metadata": {"graph_id": "heartbeat"}}))
    assert len([r for r in rows if isinstance(r, NodeRunRow)]) == 10  # drained inline twice, at 5 pending
    assert handler.drain() == 2


def test_a_scrape_drains_node_runs_first(monkeypatch: pytest.MonkeyPatch) -> None:
    import analytics.http

    handler, _, metrics = _handler()
    monkeypatch.setattr(analytics.http, "handler", lambda: handler)
    monkeypatch.setattr(analytics.http, "REGISTRY", metrics.registry)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    graph = load_builder("heartbeat").compile()
    asyncio.run(graph.ainvoke({"message": "x"}, {"callbacks": [handler], "metadata": {"graph_id": "heartbeat"}}))
    payload = analytics.http.metrics_payload().decode()
    assert 'tradeflow_node_duration_seconds_count{node="stamp",workflow="heartbeat"} 1.0' in payload


def test_a_failing_maintenance_does_not_stop_the_writes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class NoAnalyze(SqliteStore):
        analyzed = 0

        def refresh_statistics(self) -> None:
            NoAnalyze.analyzed += 1
            raise PermissionError("must be owner of table llm_calls")

    metrics = Metrics(CollectorRegistry())
    store = NoAnalyze(tmp_path / "a.sqlite")
    writer = RowWriter(lambda: store, metrics, spill_dir=tmp_path / "spill", interval_s=60)
    for row in _rows(10):
        writer.enqueue(row)
    assert writer.flush() == 10
    for row in _rows(5):
        writer.enqueue(row)
    assert writer.flush() == 5
    assert NoAnalyze.analyzed == 1  # tried at start, then not again until the next maintenance period
    assert "analytics maintenance failed" in caplog.text
    writer.close()
