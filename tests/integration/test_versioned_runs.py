"""Versioned runs in-process: spec-compiled graphs match today's results; versions, arms, shadow pairs and
guardrails reach analytics rows and act on them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from prometheus_client import CollectorRegistry

from analytics.callbacks import AnalyticsHandler
from analytics.dashboards.build import VERSIONS_SQL
from analytics.metrics import Metrics
from analytics.rows import Row, WorkflowRunRow
from analytics.sqlite_store import SqliteStore
from analytics.store import PostgresStore
from core.prices import PriceTable
from graphs.errors import LLMUnavailableError
from graphs.registry import load_builder, validate_input
from graphs.trade_break_triage.context import TriageContext
from graphs.versioning_service import VersioningService
from tests.conftest import model_env
from tests.doubles.llm_server import LLMServerDouble
from tests.support.examples import example_input
from tests.support.versioning import make_service, variant
from versioning import shadow
from versioning.subgraph import versioned_builder

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "golden_results.json").read_text())


@pytest.fixture
def openai_double(llm_double: LLMServerDouble, monkeypatch: pytest.MonkeyPatch) -> LLMServerDouble:
    for key, value in model_env(llm_double, "openai").items():
        monkeypatch.setenv(key, value)
    return llm_double


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[VersioningService]:
    service = make_service(tmp_path)
    yield service
    service.db.close()


def analytics() -> tuple[AnalyticsHandler, list[Row]]:
    rows: list[Row] = []
    return AnalyticsHandler(Metrics(CollectorRegistry()), rows.append, PriceTable.load()), rows


def _config(handler: AnalyticsHandler, thread: str) -> dict[str, Any]:
    return {
        "callbacks": [handler],
        "metadata": {"graph_id": "versioned_workflow"},
        "configurable": {"thread_id": thread},
    }


async def test_spec_compiled_graphs_give_the_hand_written_graphs_results(provider: str) -> None:
    """Recorded from the hand-written graphs (commit 0e89119) on examples/*.json with the LLM double."""
    example = lambda graph_id: validate_input(graph_id, example_input(graph_id))  # noqa: E731
    assert await load_builder("market_brief").compile().ainvoke(example("market_brief")) == GOLDEN["market_brief"]
    triage = load_builder("trade_break_triage").compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": f"golden-{provider}"}}
    paused = await triage.ainvoke(example("trade_break_triage"), config)
    assert paused["__interrupt__"][0].value == GOLDEN["trade_break_triage_interrupt"]
    resumed = await triage.ainvoke(Command(resume={"approved": True, "comment": "ok"}), config)
    assert resumed == GOLDEN["trade_break_triage_approved"]
    auto = (
        await load_builder("trade_break_triage")
        .compile()
        .ainvoke(example("trade_break_triage"), context=TriageContext(approval_threshold=5e7))
    )
    assert auto == GOLDEN["trade_break_triage_auto"]
    recon = await load_builder("eod_reconciliation").compile().ainvoke(example("eod_reconciliation"))
    assert recon == GOLDEN["eod_reconciliation"]


async def test_a_run_keeps_its_version_through_an_interrupt_and_a_rollback(
    svc: VersioningService, openai_double: LLMServerDouble
) -> None:
    for marker in ("v1", "v2"):
        svc.publish(text=variant("trade_break_triage", marker), message=marker, author="jane")
    svc.labels.move("trade_break_triage", "production", 1, actor="jane")
    svc.labels.move("trade_break_triage", "production", 2, actor="jane")
    handler, rows = analytics()
    graph = versioned_builder(lambda: svc.resolver).compile(checkpointer=InMemorySaver())
    config = _config(handler, "t-rollback")
    paused = await graph.ainvoke(
        {"workflow": "trade_break_triage", "input": example_input("trade_break_triage")}, config
    )
    assert paused["__interrupt__"][0].value["break_id"] == "BRK-2026-11-24-0042"
    svc.labels.rollback("trade_break_triage", actor="oncall", reason="bad prompt")
    final = await graph.ainvoke(Command(resume={"approved": True}), config)
    assert (final["version"], final["spec_sha"]) == (2, svc.store.version("trade_break_triage", 2).sha)
    assert final["output"]["status"] == "resolution_approved"
    assert svc.resolve("trade_break_triage")["version"] == 1  # new runs get the rolled-back label
    runs = [r for r in rows if isinstance(r, WorkflowRunRow)]
    assert [(r.workflow, r.version, r.status) for r in runs] == [
        ("trade_break_triage", "2", "interrupted"), ("trade_break_triage", "2", "success"),
    ]  # fmt: skip


async def test_arms_and_shadow_pairs_reach_the_rows_and_the_report(
    svc: VersioningService, openai_double: LLMServerDouble, tmp_path: Path
) -> None:
    for marker in ("v1", "v2"):
        svc.publish(text=variant("market_brief", marker), message=marker, author="jane")
    svc.labels.move("market_brief", "production", 1, actor="jane")
    arms = [{"name": "control", "version": 1, "weight": 0.5}, {"name": "treatment", "version": 2, "weight": 0.5}]
    experiment = svc.experiments.start("market_brief", arms, actor="jane", name="brief-ab", shadow=2)
    handler, rows = analytics()
    graph = versioned_builder(lambda: svc.resolver, shadow_callbacks=lambda: [handler]).compile(
        checkpointer=InMemorySaver()
    )
    desks = [f"desk-{i}" for i in range(6)]
    for desk in desks:
        out = await graph.ainvoke({"workflow": "market_brief", "unit_key": desk, "input": example_input("market_brief")},
                                  _config(handler, desk))  # fmt: skip
        assert (out["experiment"], out["arm"]) == ("brief-ab", experiment.assign(desk).name)
        assert out["output"]["figures"]["total_pnl"] == pytest.approx(93514.5)
    await shadow.wait_all()  # served runs do not wait for their shadows
    runs = [r for r in rows if isinstance(r, WorkflowRunRow)]
    served = [r for r in runs if r.arm != "shadow"]
    shadows = [r for r in runs if r.arm == "shadow"]
    assert sorted((r.arm, r.version) for r in served) == sorted(
        (experiment.assign(d).name, "1" if experiment.assign(d).name == "control" else "2") for d in desks
    )
    assert {r.pair_id for r in shadows} == {r.pair_id for r in served}
    assert len(shadows) == 6
    assert {(r.version, r.status) for r in shadows} == {("2", "success")}
    store = SqliteStore(tmp_path / "analytics.sqlite")
    store.migrate()
    handler.drain()
    store.write(rows)
    report = svc.experiment_report("brief-ab", store)
    assert sum(arm["runs"] for arm in report["arms"]) == 6
    assert report["shadow"]["pairs"] == 6
    assert report["srm"]["p_value"] is not None


async def test_a_guardrail_rolls_a_failing_version_back_with_an_audit_event(
    svc: VersioningService, openai_double: LLMServerDouble, tmp_path: Path
) -> None:
    svc.publish(text=variant("market_brief", "good"), message="good", author="jane")
    broken = variant("market_brief", "broken").replace("task_type: summary", "task_type: summary\n      backend: gone")
    svc.publish(text=broken, message="pinned to a backend that does not exist", author="jane")
    svc.labels.move("market_brief", "production", 1, actor="jane")
    svc.labels.move("market_brief", "production", 2, actor="jane")
    svc.set_guardrail("market_brief", "production", {"max_error_rate": 0.5, "min_runs": 3}, actor="jane")
    handler, rows = analytics()
    graph = versioned_builder(lambda: svc.resolver).compile(checkpointer=InMemorySaver())
    for i in range(3):
        with pytest.raises(LLMUnavailableError, match="LLM call failed"):
            await graph.ainvoke(
                {"workflow": "market_brief", "input": example_input("market_brief")}, _config(handler, f"g{i}")
            )
    store = SqliteStore(tmp_path / "analytics.sqlite")
    store.migrate()
    store.write(rows)
    [moved] = svc.check_guardrails(store)
    assert (moved["from"], moved["to"], moved["threshold"], moved["measured"]) == (2, 1, "max_error_rate", 1.0)
    assert svc.labels.get("market_brief", "production") == 1
    event = svc.labels.audit("market_brief")[-1]
    assert (event.action, event.actor, event.from_version, event.to_version) == ("auto_rollback", "guardrail", 2, 1)
    assert event.reason == "max_error_rate 1 exceeds 0.5"
    assert svc.check_guardrails(store) == []  # the label no longer points at the failing version


@pytest.mark.postgres
async def test_the_workflow_versions_panel_shows_real_versions_and_arms(
    svc: VersioningService, openai_double: LLMServerDouble, postgres_url: str
) -> None:
    for marker in ("v1", "v2"):
        svc.publish(text=variant("market_brief", marker), message=marker, author="jane")
    svc.labels.move("market_brief", "production", 1, actor="jane")
    arms = [{"name": "control", "version": 1, "weight": 0.5}, {"name": "treatment", "version": 2, "weight": 0.5}]
    experiment = svc.experiments.start("market_brief", arms, actor="jane", name="panel-ab")
    handler, rows = analytics()
    graph = versioned_builder(lambda: svc.resolver).compile(checkpointer=InMemorySaver())
    desks = ["desk-1", "desk-2", "desk-3", "desk-4"]
    for desk in desks:
        await graph.ainvoke({"workflow": "market_brief", "unit_key": desk, "input": example_input("market_brief")},
                            _config(handler, f"panel-{desk}"))  # fmt: skip
    store = PostgresStore(postgres_url)
    store.migrate()
    store.write([r for r in rows if isinstance(r, WorkflowRunRow)])
    now = datetime.now(UTC)
    sql = VERSIONS_SQL.replace("$__timeFrom()", f"'{now - timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}'")
    sql = sql.replace("$__timeTo()", f"'{now + timedelta(minutes=1):%Y-%m-%dT%H:%M:%SZ}'")
    found = {(r[1], r[2], r[3]): r[4] for r in store.fetch(sql, {}) if r[0] == "market_brief" and r[2] == "panel-ab"}
    expected: dict[tuple[str, str, str], int] = {}
    for desk in desks:
        arm = experiment.assign(desk)
        key = (str(arm.version), "panel-ab", arm.name)
        expected[key] = expected.get(key, 0) + 1
    assert found == expected
    store.close()
