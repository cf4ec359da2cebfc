"""Human approval: a run stops at an interrupt, its task succeeds with the thread id, a sensor waits for the resume."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from langgraph_sdk import get_sync_client

from tests.support.airflow import run_dag, write_dag
from tests.support.servers import REPO, TradeflowServer

pytestmark = pytest.mark.airflow

TRIAGE_INPUT = json.loads((REPO / "examples" / "trade_break_triage.json").read_text())

APPROVAL_DAG = """
import json
from airflow.sdk import DAG
from tradeflow_airflow.operators.run import LangGraphRunOperator
from tradeflow_airflow.sensors.thread import LangGraphThreadSensor

with DAG("{dag_id}", schedule=None) as dag:
    for mode, deferrable in (("sync", False), ("deferred", True)):
        triage = LangGraphRunOperator(
            task_id=f"triage_{mode}", graph_id="trade_break_triage", input=json.loads('''INPUT'''), deferrable=deferrable
        )
        approved = LangGraphThreadSensor(
            task_id=f"approved_{mode}",
            thread_id="{{ ti.xcom_pull(task_ids='triage_%s', key='thread_id') }}" % mode,
            deferrable=deferrable,
            poke_interval=0.5,
            timeout=120,
        )
        triage >> approved
"""


def _approve_when_interrupted(url: str, key: str, dag_id: str, stop: threading.Event, resumed: list[str]) -> None:
    """The human (a second identity: four eyes): resume each interrupted thread this DAG created, once."""
    with get_sync_client(url=url, api_key=key) as client:
        while not stop.is_set() and len(resumed) < 2:
            for thread in client.threads.search(metadata={"airflow_dag_id": dag_id}, status="interrupted"):
                if thread["thread_id"] in resumed:
                    continue
                resumed.append(thread["thread_id"])
                client.runs.create(
                    thread["thread_id"],
                    "trade_break_triage",
                    command={"resume": {"approved": True, "comment": "from the test"}},
                )
            time.sleep(0.3)


def test_interrupt_ends_the_task_with_the_thread_and_the_sensor_waits_for_the_resume(
    server: TradeflowServer, dags_folder: Path
) -> None:
    path, dag_id = write_dag(dags_folder, APPROVAL_DAG.replace("INPUT", json.dumps(TRIAGE_INPUT)))
    stop, resumed = threading.Event(), []
    approver_key = server.add_key("j.doe", "approver")  # Airflow runs with API_KEY; someone else approves
    human = threading.Thread(
        target=_approve_when_interrupted, args=(server.url, approver_key, dag_id, stop, resumed), daemon=True
    )
    human.start()
    try:
        result = run_dag(path, dag_id)
    finally:
        stop.set()
        human.join(10)
    assert result.state == "success", result.task_states
    for mode in ("sync", "deferred"):
        stopped = result.xcom(f"triage_{mode}")
        assert stopped["status"] == "interrupted"
        assert stopped["thread_id"] == result.xcom(f"triage_{mode}", "thread_id")
        assert stopped["interrupts"][0]["value"]["break_id"] == TRIAGE_INPUT["trade_break"]["break_id"]
        assert stopped["thread_id"] in resumed
        final = result.xcom(f"approved_{mode}")
        assert final["decision"] == "approved"
        assert final["approver"] == "j.doe"
        assert final["status"] == "resolution_approved"
