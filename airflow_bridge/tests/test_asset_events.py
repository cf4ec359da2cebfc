"""Asset events out through Airflow's REST API (a real ``airflow api-server``, JWT from /auth/token)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.airflow import ADMIN_PASSWORD, AirflowAPIServer, run_dag, write_dag
from tests.support.servers import TradeflowServer
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
    return api_server.url


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
