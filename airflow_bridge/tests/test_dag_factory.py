"""The DAG factory: entries from specs published on the real server and workflows_config.yaml, bad entries, outages.

The server's list is the real ``GET /workflows`` of the session's ``tradeflow serve`` (graphs/workflow_routes.py),
over specs published through ``POST /workflows`` (``tests/support/workflows.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API_KEY, HOME
from tests.support.airflow import AIRFLOW, langgraph_connection, run_dag, write_dag
from tests.support.servers import TradeflowServer, free_port
from tests.support.workflows import BRIEF_INPUT, Catalog
from tradeflow_airflow.dag_factory import check_workflow_entries, load_entries, workflow_dags
from tradeflow_airflow.dag_files import CHECK_FILE, WORKFLOWS_FILE, write_dag_files
from tradeflow_airflow.errors import WorkflowEntryError
from tradeflow_airflow.workflow_entries import from_config, from_server

CONFIG = """
workflows:
  - id: heartbeat_probe
    graph: heartbeat
    owner: ops
    schedule: {cron: "*/5 * * * *", input: {message: "probe {{ run_id }}"}, emits: ["tradeflow://test/heartbeat"]}
  - id: on_heartbeat
    graph: heartbeat
    schedule: {assets: ["tradeflow://test/heartbeat"], input: {message: "after an upstream heartbeat"}}
  - id: bad_cron
    graph: heartbeat
    schedule: {cron: "61 * * * *"}
"""


# --- entries: every problem names the entry and the field ----------------------------------------
@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"id": "x", "graph": "heartbeat", "schedule": {"cron": "61 * * * *"}}, "schedule.cron: expected a 5-field"),
        ({"id": "x", "schedule": {"cron": "* * * * *", "timezone": "Mars/Olympus"}}, "schedule.timezone"),
        ({"id": "x", "schedule": {"timezone": "UTC"}}, "schedule: expected at least one of cron or assets"),
        ({"id": "x", "schedule": {"assets": ["no-scheme"]}}, "schedule.assets: expected a list of asset URIs"),
        ({"id": "x", "schedule": {"cron": "* * * * *", "retries": -1}}, "schedule.retries: expected an integer >= 0"),
        ({"id": "x", "schedule": {"cron": "* * * * *", "sla_s": 0}}, "schedule.sla_s: expected a number >= 1"),
        ({"id": "x", "schedule": {"cron": "* * * * *", "crontab": "x"}}, "schedule.crontab: expected one of"),
        ({"id": "Bad-Id", "schedule": {"cron": "* * * * *"}}, "id: expected ^[a-z]"),
        (
            {"id": "x", "graph": "heartbeat", "workflow": "y", "schedule": {"cron": "* * * * *"}},
            "graph: expected either",
        ),
    ],
)
def test_a_bad_entry_is_refused_naming_the_entry_and_field(item: dict[str, Any], message: str) -> None:
    with pytest.raises(WorkflowEntryError, match="workflow") as caught:
        from_config(item, "workflows_config.yaml", 1)
    assert message in str(caught.value)
    assert "workflows_config.yaml" in str(caught.value)


def test_published_spec_entries_resolve_the_labelled_version(catalog: Catalog) -> None:
    listed = catalog.workflows["market_brief"]
    assert listed["schedule"]["sla_s"] == 1800
    assert listed["latest_version"] == 2  # the DAG tags the labelled version, not the newest
    brief = from_server(listed)
    assert brief is not None
    assert (brief.workflow, brief.spec_version, brief.label, brief.timezone, brief.cron) == (
        "market_brief",
        1,
        "production",
        "Europe/London",
        "30 7 * * 1-5",
    )
    assert (brief.retries, brief.retry_delay_s, brief.sla_s, brief.emits, brief.input) == (
        2,
        60.0,
        1800.0,
        ("tradeflow://briefs/market",),
        BRIEF_INPUT,
    )
    recon = catalog.workflows["eod_reconciliation"]
    assert recon["schedule"]["cron"] is None  # the server lists unset fields as null: read as absent
    entry = from_server(recon)
    assert entry is not None
    assert (entry.cron, entry.assets, entry.sla_s, entry.input, entry.spec_version) == (
        None,
        ("tradeflow://eod/prices",),
        None,
        {},
        1,
    )
    assert from_server(catalog.workflows["trade_break_triage"]) is None  # no schedule, no DAG


def test_a_server_spec_the_factory_cannot_use_is_refused_naming_it(catalog: Catalog) -> None:
    with pytest.raises(WorkflowEntryError, match=r"'broken_assets' \(server\): schedule.assets: expected a list"):
        from_server(catalog.workflows["broken_assets"])
    with pytest.raises(
        WorkflowEntryError, match=r"'unlabelled' \(server\): schedule.label: label 'production' points at no version"
    ):
        from_server(catalog.workflows["unlabelled"])


# --- the server's list: cache and outages ---------------------------------------------------------
@pytest.fixture
def published(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    """The real server's ``GET /workflows`` behind connection ``tradeflow_catalog``."""
    monkeypatch.setenv("AIRFLOW_CONN_TRADEFLOW_CATALOG", langgraph_connection(catalog.url, API_KEY))
    return catalog


def _server_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """An outage as the factory meets it: the connection's host no longer answers (nothing listens there)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRADEFLOW_CATALOG", langgraph_connection(f"http://127.0.0.1:{free_port()}", API_KEY)
    )


def test_an_outage_keeps_the_last_known_dags_and_says_so(
    published: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = {"langgraph_conn_id": "tradeflow_catalog", "cache_path": tmp_path / "cache.json", "refresh_s": 0}
    before = workflow_dags(**options)
    assert {"tradeflow__market_brief", "tradeflow__eod_reconciliation"} <= set(before)
    _server_gone(monkeypatch)
    after = workflow_dags(**options)
    assert set(after) == set(before)
    with pytest.raises(
        WorkflowEntryError, match="GET /workflows through connection 'tradeflow_catalog' failed"
    ) as caught:
        check_workflow_entries(**options)
    assert "using the list cached" in str(caught.value)
    # with no copy at all, the outage is still named, and config entries still load
    nothing = load_entries(langgraph_conn_id="tradeflow_catalog", cache_path=tmp_path / "none.json", refresh_s=0)
    assert nothing.entries == []
    assert "no cached list" in nothing.problems[0]


def test_a_fresh_cache_spares_the_server(published: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    options = {"langgraph_conn_id": "tradeflow_catalog", "cache_path": tmp_path / "cache.json", "refresh_s": 300}
    first = workflow_dags(**options)
    _server_gone(monkeypatch)  # a request now would fail and be named: a fresh copy means none is made
    load = load_entries(**options)
    assert not [problem for problem in load.problems if "GET /workflows" in problem], load.problems
    assert set(workflow_dags(**options)) == set(first)


# --- real Airflow: the DAG processor, one bad entry, runs, assets -------------------------------------
def _factory_files(folder: Path, conn_id: str, cache: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "workflows_config.yaml").write_text(CONFIG)
    write_dag_files(folder)
    for name in (WORKFLOWS_FILE, CHECK_FILE):
        path = folder / name
        text = path.read_text().replace('"langgraph_default"', f'"{conn_id}"')
        path.write_text(text.replace('"deferrable": False,', f'"deferrable": False, "cache_path": Path("{cache}"),'))


@pytest.mark.airflow
def test_the_dag_processor_loads_good_entries_and_names_the_bad_ones(
    stack: TradeflowServer, published: Catalog, dags_folder: Path
) -> None:
    folder = dags_folder / "factory"
    _factory_files(folder, "tradeflow_catalog", HOME / "factory-cache.json")
    assert "airflow" in (folder / WORKFLOWS_FILE).read_text()
    # Only the factory's files: the other tests' DAG files (t_*.py) would just slow this parse down.
    (dags_folder / ".airflowignore").write_text("t_*.py\n")
    try:
        done = subprocess.run(
            [str(AIRFLOW), "dag-processor", "--num-runs", "1"],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        (dags_folder / ".airflowignore").unlink()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    from airflow.models.dag import DagModel
    from airflow.models.errors import ParseImportError
    from airflow.utils.session import create_session

    with create_session() as session:
        errors = {e.filename: e.stacktrace for e in session.query(ParseImportError).all()}
        dags = {d.dag_id: d for d in session.query(DagModel).filter(DagModel.dag_id.like("tradeflow__%")).all()}
        tags = {dag_id: {t.name for t in dag.tags} for dag_id, dag in dags.items()}
        state = {dag_id: (dag.is_stale, dag.has_import_errors, dag.timetable_summary) for dag_id, dag in dags.items()}
        assets = {dag_id: json.dumps(dag.asset_expression) for dag_id, dag in dags.items()}
    check_errors = [text for name, text in errors.items() if name.endswith(CHECK_FILE)]
    assert len(check_errors) == 1, errors
    assert "'bad_cron'" in check_errors[0]
    assert "schedule.cron: expected a 5-field cron expression" in check_errors[0]
    assert "'broken_assets' (server): schedule.assets: expected a list of asset URIs" in check_errors[0]
    assert "'unlabelled' (server): schedule.label: label 'production' points at no version" in check_errors[0]
    assert not [name for name in errors if name.endswith(WORKFLOWS_FILE)]
    expected = {
        "tradeflow__market_brief",
        "tradeflow__eod_reconciliation",
        "tradeflow__heartbeat_probe",
        "tradeflow__on_heartbeat",
    }
    assert expected <= set(dags), sorted(dags)
    assert "tradeflow__bad_cron" not in dags
    assert "tradeflow__trade_break_triage" not in dags  # published without a schedule
    assert not {"tradeflow__broken_assets", "tradeflow__unlabelled"} & set(dags)
    for dag_id in expected:
        assert state[dag_id][:2] == (False, False), (dag_id, state[dag_id])
    # the version the production label points at (1), not the newest published (2)
    assert {"tradeflow", "workflow:market_brief", "spec_version:1"} <= tags["tradeflow__market_brief"]
    assert "spec_version:2" not in tags["tradeflow__market_brief"]
    assert state["tradeflow__market_brief"][2] == "30 7 * * 1-5"
    assert "tradeflow://test/heartbeat" in assets["tradeflow__on_heartbeat"]
    assert "tradeflow://eod/prices" in assets["tradeflow__eod_reconciliation"]


GENERATED = """
# airflow DAGs from a workflows_config.yaml of served graphs (no server list)
from pathlib import Path
from tradeflow_airflow.dag_factory import workflow_dags

globals().update(workflow_dags(config_path=Path("CONFIG"), from_server_list=False, dag_id_prefix="{dag_id}__"))
"""


@pytest.mark.airflow
def test_a_generated_dag_runs_emits_its_asset_and_queues_the_asset_triggered_dag(
    server: TradeflowServer, dags_folder: Path, tmp_path: Path
) -> None:
    config = tmp_path / "workflows_config.yaml"
    config.write_text(CONFIG)
    path, prefix = write_dag(dags_folder, GENERATED.replace("CONFIG", str(config)))
    upstream = run_dag(path, f"{prefix}__heartbeat_probe")
    assert upstream.state == "success", upstream.task_states
    assert upstream.task_states == {"run": "success", "finish": "success"}
    assert upstream.xcom("finish")["message"] == f"probe {upstream.run_id}"
    thread_id = upstream.xcom("run", "thread_id")

    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        asset = session.query(AssetModel).filter(AssetModel.uri == "tradeflow://test/heartbeat").one()
        events = session.query(AssetEvent).filter(AssetEvent.asset_id == asset.id).all()
        queued = {
            q.target_dag_id for q in session.query(AssetDagRunQueue).filter(AssetDagRunQueue.asset_id == asset.id)
        }
    assert any(e.extra.get("tradeflow_thread_id") == thread_id for e in events), [e.extra for e in events]
    assert f"{prefix}__on_heartbeat" in queued  # the scheduler's queue of asset-triggered runs

    downstream = run_dag(path, f"{prefix}__on_heartbeat")
    assert downstream.state == "success"
    assert downstream.xcom("finish")["message"] == "after an upstream heartbeat"


def test_dag_files_are_not_overwritten_unless_asked(tmp_path: Path) -> None:
    first = write_dag_files(tmp_path)
    assert [p.name for p in first] == [WORKFLOWS_FILE, CHECK_FILE]
    (tmp_path / WORKFLOWS_FILE).write_text("# airflow dag, edited")
    assert write_dag_files(tmp_path) == []
    assert (tmp_path / WORKFLOWS_FILE).read_text() == "# airflow dag, edited"
    assert textwrap.dedent(CONFIG)  # the config used above parses as YAML in the tests that load it
