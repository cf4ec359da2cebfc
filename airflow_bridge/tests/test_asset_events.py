"""Asset events out through Airflow's REST API (a real ``airflow api-server``, JWT from /auth/token).

End to end: a published workflow whose step calls ``emit_asset_event`` runs under a real ``airflow
scheduler`` (LocalExecutor); the operator posts the event through the REST API and the scheduler runs the
asset-scheduled DAG downstream. A post that fails does not fail the task whose run succeeded, unless strict.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_sync_client

from tests.conftest import API_KEY, HOME
from tests.support.airflow import ADMIN_PASSWORD, AirflowAPIServer, AirflowScheduler, parse_dags, run_dag, write_dag
from tests.support.servers import TradeflowServer, free_port
from tests.support.workflows import Catalog
from tradeflow_airflow.errors import AssetEventError
from tradeflow_airflow.hooks.airflow_api import AirflowAPIHook

pytestmark = pytest.mark.airflow

CONSUMER = """
# airflow DAG waiting on the asset a workflow run emits through the REST API
from airflow.sdk import DAG, Asset
from tradeflow_airflow.operators.run import LangGraphRunOperator

with DAG("{dag_id}", schedule=[Asset("tradeflow://test/rest-{dag_id}")]) as dag:
    LangGraphRunOperator(task_id="run", graph_id="heartbeat", input={"message": "consumer"})
"""


@pytest.fixture
def api_connection(api_server: AirflowAPIServer, monkeypatch: pytest.MonkeyPatch) -> str:
    conn = {"conn_type": "http", "host": api_server.url, "login": "admin", "password": ADMIN_PASSWORD}
    monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_API_DEFAULT", json.dumps(conn))
    bad = {**conn, "password": "wrong"}
    monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_API_WRONG", json.dumps(bad))
    gone = {**conn, "host": f"127.0.0.1:{free_port()}"}  # nothing listens there: an outage
    monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_API_GONE", json.dumps(gone))
    return api_server.url


_TOKENS: dict[str, str] = {}


def _token(api_url: str) -> str:
    if api_url not in _TOKENS:
        response = httpx.post(
            f"{api_url}/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}, timeout=60
        )
        response.raise_for_status()
        _TOKENS[api_url] = str(response.json()["access_token"])
    return _TOKENS[api_url]


def _rest(api_url: str, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(
        method, f"{api_url}{path}", headers={"Authorization": f"Bearer {_token(api_url)}"}, timeout=60, **kwargs
    )
    assert response.status_code < 400, (method, path, response.status_code, response.text)
    return response.json()


def test_asset_events_are_posted_with_a_jwt_and_queue_the_consuming_dag(
    server: TradeflowServer, api_connection: str, dags_folder: Path
) -> None:
    path, dag_id = write_dag(dags_folder, CONSUMER)
    assert run_dag(path, dag_id).state == "success"  # the DAG and its asset are now known to Airflow
    uri = f"tradeflow://test/rest-{dag_id}"

    created = AirflowAPIHook().post_asset_events([{"uri": uri, "extra": {"workflow": "market_brief", "version": 3}}])

    assert created[0]["uri"] == uri
    assert created[0]["extra"]["workflow"] == "market_brief"
    from airflow.models.asset import AssetDagRunQueue, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        asset = session.query(AssetModel).filter(AssetModel.uri == uri).one()
        queued = {
            q.target_dag_id for q in session.query(AssetDagRunQueue).filter(AssetDagRunQueue.asset_id == asset.id)
        }
    assert dag_id in queued
    # the API itself shows the event (read back with a token of our own)
    token = httpx.post(f"{api_connection}/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}).json()
    events = httpx.get(
        f"{api_connection}/api/v2/assets/events",
        params={"asset_id": asset.id},
        headers={"Authorization": f"Bearer {token['access_token']}"},
    ).json()
    assert events["asset_events"][-1]["extra"]["from_rest_api"] is True


def test_a_wrong_password_or_an_unknown_asset_is_a_clear_error(server: TradeflowServer, api_connection: str) -> None:
    with pytest.raises(AssetEventError, match=r"refused a token for user 'admin'.*airflow_api_wrong.*HTTP 401"):
        AirflowAPIHook("airflow_api_wrong").post_asset_events([{"uri": "tradeflow://x/y"}])
    with pytest.raises(AssetEventError, match="Airflow knows no asset with uri 'tradeflow://never/declared'"):
        AirflowAPIHook().post_asset_events([{"uri": "tradeflow://never/declared"}])


# --- a workflow step's asset event, end to end under the real scheduler ------------------------------------
E2E_URI = "tradeflow://test/prices-landed"
UPSTREAM = """
# airflow DAG: the published workflow emit_asset, whose step emits an asset event (posted through the REST API)
from airflow.sdk import DAG
from tradeflow_airflow.operators.run import LangGraphRunOperator

with DAG("e2e_upstream", schedule=None) as dag:
    LangGraphRunOperator(task_id="emit", workflow="emit_asset", input={"uri": "URI", "as_of": "{{ ds }}"})
"""
DOWNSTREAM = """
# airflow DAG scheduled on the asset the upstream workflow emits
from airflow.sdk import DAG, Asset, task

with DAG("e2e_downstream", schedule=[Asset("URI")]) as dag:

    @task
    def consume(triggering_asset_events=None):
        return [dict(event.extra) for events in triggering_asset_events.values() for event in events]

    consume()
"""


@pytest.fixture
def scheduler(api_server: AirflowAPIServer, api_connection: str) -> Iterator[AirflowScheduler]:
    """``airflow scheduler`` for one test, with every DAG but this test's paused; stopped after it."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(DagModel).filter(DagModel.dag_id.notin_(["e2e_upstream", "e2e_downstream"])).update(
            {DagModel.is_paused: True}, synchronize_session=False
        )
    process = AirflowScheduler(HOME, api_server)
    yield process
    process.stop()


def _dag_runs(api_url: str, dag_id: str) -> list[dict[str, Any]]:
    return list(_rest(api_url, "GET", f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"])


def _wait_for_run(api_url: str, dag_id: str, scheduler: AirflowScheduler, timeout_s: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        finished = [r for r in _dag_runs(api_url, dag_id) if r["state"] in ("success", "failed")]
        if finished:
            return finished[0]
        if scheduler.process.poll() is not None:
            break
        time.sleep(2)
    raise AssertionError(f"{dag_id}: no finished run within {timeout_s}s; scheduler log:\n{scheduler.output()[-4000:]}")


@pytest.fixture
def e2e_dags(catalog: Catalog, dags_folder: Path) -> Path:
    """The upstream and downstream DAG files in their own folder, parsed once by the real DAG processor."""
    folder = dags_folder / "assets_e2e"
    folder.mkdir(exist_ok=True)
    (folder / "e2e_upstream.py").write_text(UPSTREAM.replace("URI", E2E_URI))
    (folder / "e2e_downstream.py").write_text(DOWNSTREAM.replace("URI", E2E_URI))
    done = parse_dags(only="assets_e2e")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return folder


@pytest.mark.usefixtures("e2e_dags")
def test_a_workflow_steps_asset_event_runs_the_downstream_dag_under_the_scheduler(
    server: TradeflowServer, api_connection: str, scheduler: AirflowScheduler
) -> None:
    logical_date = datetime.now(UTC).isoformat()
    _rest(api_connection, "POST", "/api/v2/dags/e2e_upstream/dagRuns", json={"logical_date": logical_date})
    upstream = _wait_for_run(api_connection, "e2e_upstream", scheduler)
    assert upstream["state"] == "success", scheduler.output()[-4000:]
    downstream = _wait_for_run(api_connection, "e2e_downstream", scheduler)
    assert downstream["state"] == "success", scheduler.output()[-4000:]
    assert downstream["run_type"] == "asset_triggered"

    # the event, as the REST API shows it, leads back to the workflow run that emitted it
    listed = _rest(api_connection, "GET", "/api/v2/assets", params={"uri_pattern": E2E_URI})["assets"]
    asset_id = next(a["id"] for a in listed if a["uri"] == E2E_URI)
    events = _rest(api_connection, "GET", "/api/v2/assets/events", params={"asset_id": asset_id})["asset_events"]
    [event] = [e for e in events if e["extra"].get("workflow") == "emit_asset"]
    assert event["extra"]["as_of"] == logical_date[:10]  # the workflow's own extra, rendered from its input
    assert (event["extra"]["workflow_version"], event["extra"]["step"], event["extra"]["from_rest_api"]) == (
        1,
        "announce",
        True,
    )
    with get_sync_client(url=server.url, api_key=API_KEY) as client:
        [thread] = client.threads.search(metadata={"airflow_dag_id": "e2e_upstream"}, limit=10)
    assert event["extra"]["tradeflow_thread_id"] == thread["thread_id"]
    # and the downstream task saw that very event as what triggered it
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        consumed = (
            session.query(XComModel)
            .filter(XComModel.dag_id == "e2e_downstream", XComModel.run_id == downstream["dag_run_id"])
            .filter(XComModel.task_id == "consume", XComModel.key == "return_value")
            .one()
            .value
        )
    assert [extra["tradeflow_thread_id"] for extra in consumed] == [thread["thread_id"]]


# --- a failed post does not fail a run that succeeded, unless strict ----------------------------------------
LENIENT = """
# airflow DAG: the same workflow's asset event posted where Airflow cannot record it
from airflow.sdk import DAG
from tradeflow_airflow.operators.run import LangGraphRunOperator

UNKNOWN = {"uri": "tradeflow://never/declared", "as_of": "{{ ds }}"}
with DAG("{dag_id}", schedule=None) as dag:
    LangGraphRunOperator(task_id="unknown_asset", workflow="emit_asset", input=UNKNOWN)
    LangGraphRunOperator(task_id="api_down", workflow="emit_asset", input=UNKNOWN, airflow_api_conn_id="airflow_api_gone")
    LangGraphRunOperator(task_id="strict", workflow="emit_asset", input=UNKNOWN, strict_asset_events=True)
"""


def test_a_failed_asset_event_is_a_warning_and_a_record_unless_strict(
    server: TradeflowServer, api_connection: str, catalog: Catalog, dags_folder: Path
) -> None:
    path, dag_id = write_dag(dags_folder, LENIENT)
    result = run_dag(path, dag_id)
    assert result.task_states == {"unknown_asset": "success", "api_down": "success", "strict": "failed"}
    [unknown] = result.xcom("unknown_asset", "asset_event_failures")
    assert unknown["uri"] == "tradeflow://never/declared"
    assert "Airflow knows no asset with uri 'tradeflow://never/declared'" in unknown["error"]
    assert result.xcom("unknown_asset", "asset_events") == []
    assert result.xcom("unknown_asset", "workflow_version")["version"] == 1  # the run's own record stands
    [down] = result.xcom("api_down", "asset_event_failures")
    assert down["error"].startswith("Airflow API unreachable (POST http://127.0.0.1:")
    assert "ConnectError" in down["error"]
