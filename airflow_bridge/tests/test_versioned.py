"""Versioned workflows end to end on the real server: specs published there, resolved by label, pin or A/B arm.

Each DAG run passes its label or pinned version to the server's ``versioned_workflow`` graph and records the
version it resolved; Airflow's own DAG version for the run and the spec version are linked both ways (XCom
``workflow_version`` on the Airflow side, thread metadata on the server's).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_sync_client

from tests.conftest import API_KEY
from tests.support.airflow import DagResult, run_dag, write_dag
from tests.support.servers import TradeflowServer
from tests.support.workflows import BRIEF_INPUT, Catalog

pytestmark = pytest.mark.airflow

VERSIONED_DAG = """
# airflow DAG: one workflow by label, the same pinned (deferrable)
from airflow.sdk import DAG
from tradeflow_airflow.operators.run import LangGraphRunOperator

INPUT = BRIEF_INPUT
with DAG("{dag_id}", schedule=None) as dag:
    LangGraphRunOperator(task_id="by_label", workflow="market_brief", label="production", input=INPUT)
    LangGraphRunOperator(task_id="pinned", workflow="market_brief", version=2, input=INPUT, deferrable=True)
"""


def _airflow_dag_versions(result: DagResult) -> dict[str, str]:
    """Airflow's own record: the DagVersion id each task instance of the run ran with."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter(
            TaskInstance.dag_id == result.dag_id, TaskInstance.run_id == result.run_id
        )
        return {ti.task_id: str(ti.dag_version_id) for ti in rows}


def _spec_versions_of_dag_version(dag_version_id: str) -> set[tuple[str, int]]:
    """Airflow -> spec: every (workflow, version) the runs of one Airflow DAG version recorded in XCom."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.dag_version_id == uuid.UUID(dag_version_id)).all()
        found = set()
        for ti in tis:
            row = (
                session.query(XComModel)
                .filter(XComModel.dag_id == ti.dag_id, XComModel.run_id == ti.run_id)
                .filter(XComModel.task_id == ti.task_id, XComModel.key == "workflow_version")
                .one_or_none()
            )
            if row is not None:
                found.add((row.value["workflow"], row.value["version"]))
        return found


def test_a_versioned_run_records_the_resolved_version_on_both_sides(
    server: TradeflowServer, catalog: Catalog, dags_folder: Path
) -> None:
    labelled = catalog.workflows["market_brief"]["labels"]["production"]
    assert (labelled, catalog.workflows["market_brief"]["latest_version"]) == (1, 2)
    path, dag_id = write_dag(dags_folder, VERSIONED_DAG.replace("BRIEF_INPUT", repr(BRIEF_INPUT)))
    result = run_dag(path, dag_id)
    assert result.state == "success", result.task_states

    by_label, pinned = result.xcom("by_label", "workflow_version"), result.xcom("pinned", "workflow_version")
    assert (by_label["workflow"], by_label["version"], by_label["label"]) == ("market_brief", labelled, "production")
    assert by_label["spec_sha"] == catalog.sha("market_brief", labelled)
    assert (pinned["version"], pinned["spec_sha"]) == (2, catalog.sha("market_brief", 2))
    assert set(result.xcom("by_label")) == {"figures", "brief"}  # the workflow's own output

    dag_versions = _airflow_dag_versions(result)
    assert by_label["airflow_dag_version"] == dag_versions["by_label"]
    assert pinned["airflow_dag_version"] == dag_versions["pinned"]
    # Airflow -> spec: from the DAG version of this run to the spec versions its tasks ran
    assert {("market_brief", 1), ("market_brief", 2)} <= _spec_versions_of_dag_version(dag_versions["by_label"])

    with get_sync_client(url=server.url, api_key=API_KEY) as client:
        run = client.runs.get(result.xcom("by_label", "thread_id"), result.xcom("by_label", "run_id"))
        assert run["metadata"]["airflow_dag_id"] == dag_id
        assert run["metadata"]["airflow_run_id"] == result.run_id
        assert run["metadata"]["airflow_dag_version"] == dag_versions["by_label"]
        # spec -> Airflow: the threads that ran market_brief v1 name the DAG run and the DAG version
        threads = client.threads.search(
            metadata={"tradeflow_workflow": "market_brief", "tradeflow_spec_version": 1, "airflow_dag_id": dag_id},
            limit=10,
        )
    assert [t["thread_id"] for t in threads] == [result.xcom("by_label", "thread_id")]
    metadata = threads[0]["metadata"]
    assert (metadata["airflow_run_id"], metadata["airflow_dag_version"]) == (result.run_id, dag_versions["by_label"])
    assert (metadata["tradeflow_spec_sha"], metadata["tradeflow_label"]) == (by_label["spec_sha"], "production")


FACTORY_DAG = """
# airflow DAGs from the server's published specs
from pathlib import Path
from tradeflow_airflow.dag_factory import workflow_dags

globals().update(workflow_dags(cache_path=Path("CACHE"), refresh_s=0, dag_id_prefix="{dag_id}__"))
"""


def test_a_generated_dag_runs_the_version_its_tag_names(
    server: TradeflowServer, catalog: Catalog, dags_folder: Path, tmp_path: Path
) -> None:
    path, prefix = write_dag(dags_folder, FACTORY_DAG.replace("CACHE", str(tmp_path / "cache.json")))
    result = run_dag(path, f"{prefix}__market_brief")
    assert result.state == "success", result.task_states
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        tags = {t.name for t in session.get(DagModel, result.dag_id).tags}
    recorded = result.xcom("run", "workflow_version")
    assert f"spec_version:{recorded['version']}" in tags
    assert (recorded["version"], recorded["label"]) == (catalog.workflows["market_brief"]["labels"]["production"],
                                                        "production")  # fmt: skip


AB_DAG = """
# airflow DAG for an A/B experiment: no branching, the server assigns the arm from the unit key (the run id)
from airflow.sdk import DAG
from tradeflow_airflow.operators.run import LangGraphRunOperator

with DAG("{dag_id}", schedule=None) as dag:
    LangGraphRunOperator(task_id="brief", workflow="ab_brief", input=BRIEF_INPUT)
"""


def _server_assignment(catalog: Catalog, unit_key: str) -> dict[str, Any]:
    response = httpx.get(
        f"{catalog.url}/workflows/ab_brief/resolve",
        params={"label": "production", "unit_key": unit_key},
        headers={"x-api-key": API_KEY},
        timeout=30,
    )
    response.raise_for_status()
    return dict(response.json())


def test_an_ab_experiment_dag_needs_no_branching(server: TradeflowServer, catalog: Catalog, dags_folder: Path) -> None:
    path, dag_id = write_dag(dags_folder, AB_DAG.replace("BRIEF_INPUT", repr(BRIEF_INPUT)))
    result = run_dag(path, dag_id)
    assert result.state == "success", result.task_states
    recorded = result.xcom("brief", "workflow_version")
    arms = {arm["name"]: arm["version"] for arm in catalog.experiment["arms"]}
    assert recorded["experiment"] == catalog.experiment["id"]
    assert recorded["version"] == arms[recorded["arm"]]
    assigned = _server_assignment(catalog, result.run_id)  # the same unit key always gets the same arm
    assert (assigned["arm"], assigned["version"]) == (recorded["arm"], recorded["version"])
