"""LangGraphRunOperator and RoutedLLMOperator in real Airflow (dag.test) against a real tradeflow server."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from langgraph_sdk import get_client, get_sync_client

from tests.conftest import API_KEY
from tests.support.airflow import langgraph_connection, run_dag, write_dag
from tests.support.servers import LLMDouble, TradeflowServer

pytestmark = pytest.mark.airflow

POSITION = {"book": "EQ", "symbol": "AAPL", "quantity": 1, "price": 2.0, "prev_close": 1.0}

RUN_DAG = """
from datetime import timedelta
from airflow.sdk import DAG
from tradeflow_airflow.operators.run import LangGraphRunOperator
from tradeflow_airflow.operators.routed_llm import RoutedLLMOperator

with DAG("{dag_id}", schedule=None) as dag:
    sync = LangGraphRunOperator(task_id="sync", graph_id="heartbeat", input={"message": "sync {{ run_id }}"})
    deferred = LangGraphRunOperator(
        task_id="deferred", graph_id="heartbeat", input={"message": "deferred {{ ds }}"}, deferrable=True
    )
    routed = RoutedLLMOperator(task_id="routed", prompt="Summarise fails on {{ ds }}", strategy="cost", task_type="summary")
    routed_deferred = RoutedLLMOperator(task_id="routed_deferred", prompt="Classify {{ ds }}", deferrable=True)
    first, second = (
        LangGraphRunOperator(
            task_id=f"on_thread_{name}", graph_id="heartbeat", input={"message": name}, thread_id="THREAD_ID"
        )
        for name in ("first", "second")
    )  # a chosen thread: created by the first task, reused by the second
    first >> second
"""


def test_run_and_routed_operators_sync_and_deferrable(server: TradeflowServer, dags_folder: Path) -> None:
    chosen = str(uuid.uuid4())
    path, dag_id = write_dag(dags_folder, RUN_DAG.replace("THREAD_ID", chosen))
    result = run_dag(path, dag_id)
    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}
    assert result.xcom("sync")["message"] == f"sync {result.run_id}"
    assert result.xcom("sync")["handled_at"]
    assert result.xcom("deferred")["message"].startswith("deferred 20")
    for task in ("routed", "routed_deferred"):
        answer = result.xcom(task)
        assert answer["answer"].startswith("[test-model:")
        assert answer["answered_by"] in ("double-openai", "double-ollama")
        decision = result.xcom(task, "decision")
        assert decision["workflow"] == dag_id
        assert decision["answered_by"] == answer["answered_by"]
        assert result.xcom(task, "attempts")[0]["outcome"] == "success"
    assert result.xcom("routed", "decision")["strategy"] == "cost"

    # Each side finds the other: the server's run carries Airflow's ids, Airflow's XCom the server's.
    with get_sync_client(url=server.url, api_key=API_KEY) as client:
        for task in ("sync", "deferred"):
            thread_id, run_id = result.xcom(task, "thread_id"), result.xcom(task, "run_id")
            run = client.runs.get(thread_id, run_id)
            assert run["status"] == "success"
            meta = run["metadata"]
            assert meta["airflow_dag_id"] == dag_id
            assert meta["airflow_run_id"] == result.run_id
            assert meta["airflow_task_id"] == task
            assert len(meta["airflow_dag_version"]) == 36  # Airflow's DagVersion id of this run
            assert client.threads.get(thread_id)["metadata"]["airflow_run_id"] == result.run_id
        assert result.xcom("on_thread_first", "thread_id") == result.xcom("on_thread_second", "thread_id") == chosen
        runs = client.runs.list(chosen)
        assert {r["run_id"] for r in runs} == {result.xcom(f"on_thread_{n}", "run_id") for n in ("first", "second")}
        assert client.threads.get_state(chosen)["values"]["message"] == "second"


FAILING_DAG = """
from airflow.sdk import DAG
from tradeflow_airflow.operators.run import LangGraphRunOperator

with DAG("{dag_id}", schedule=None) as dag:
    LangGraphRunOperator(task_id="sync", graph_id="market_brief", input={"as_of": "2026-11-24", "positions": [
        {"book": "EQ", "symbol": "AAPL", "quantity": 1, "price": 2.0, "prev_close": 1.0}]})
    LangGraphRunOperator(task_id="deferred", graph_id="market_brief", deferrable=True, input={"as_of": "2026-11-24",
        "positions": [{"book": "EQ", "symbol": "AAPL", "quantity": 1, "price": 2.0, "prev_close": 1.0}]})
    LangGraphRunOperator(task_id="refused", graph_id="heartbeat", input={"msg": "wrong field"})
    LangGraphRunOperator(task_id="wrong_key", graph_id="heartbeat", input={"message": "x"}, langgraph_conn_id="wrong_key")
"""


def test_a_failed_run_fails_the_task_with_the_servers_error(
    server: TradeflowServer,
    llm: LLMDouble,
    dags_folder: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    llm.behave(fault="status", status=400)
    monkeypatch.setenv("AIRFLOW_CONN_WRONG_KEY", langgraph_connection(server.url, "not-the-key"))
    path, dag_id = write_dag(dags_folder, FAILING_DAG)
    result = run_dag(path, dag_id)
    output = capfd.readouterr()
    logs = output.out + output.err
    assert result.state == "failed"
    assert set(result.task_states.values()) == {"failed"}
    assert set(result.task_states) == {"sync", "deferred", "refused", "wrong_key"}
    # the server's error class and message, with the thread and run to look at
    assert logs.count("ServerRunError: LLMUnavailableError:") >= 2, logs[-3000:]
    assert (
        "the server refused the run of heartbeat (connection 'langgraph_default'): HTTP 422: invalid input for graph 'heartbeat'"
        in logs
    )
    assert "(connection 'wrong_key'): HTTP 401: unknown, wrong or revoked x-api-key" in logs
    assert "not-the-key" not in logs
    assert "msg: Extra inputs are not permitted" in logs
    with get_sync_client(url=server.url, api_key=API_KEY) as client:
        run = client.runs.get(result.xcom("sync", "thread_id"), result.xcom("sync", "run_id"))
    assert run["status"] == "error"


KILL_DAG = """
from datetime import timedelta
from airflow.sdk import DAG
from tradeflow_airflow.operators.run import LangGraphRunOperator

with DAG("{dag_id}", schedule=None) as dag:
    LangGraphRunOperator(task_id="slow", graph_id="market_brief", execution_timeout=timedelta(seconds=4),
        input={"as_of": "2026-11-24", "positions": [
            {"book": "EQ", "symbol": "AAPL", "quantity": 1, "price": 2.0, "prev_close": 1.0}]})
"""


def test_killing_the_task_cancels_the_server_run(server: TradeflowServer, llm: LLMDouble, dags_folder: Path) -> None:
    """Airflow kills a task past its execution_timeout and calls on_kill: the server run must stop too."""
    llm.behave(latency_s=30)
    path, dag_id = write_dag(dags_folder, KILL_DAG)
    started = time.monotonic()
    result = run_dag(path, dag_id)
    assert time.monotonic() - started < 30
    assert result.task_states == {"slow": "failed"}
    with get_sync_client(url=server.url, api_key=API_KEY) as client:
        run = client.runs.get(result.xcom("slow", "thread_id"), result.xcom("slow", "run_id"))
    assert run["status"] == "interrupted"  # what the server calls a cancelled run


def test_the_trigger_cancels_the_server_run_when_a_deferred_task_is_killed(
    server: TradeflowServer, llm: LLMDouble
) -> None:
    """A user killing a deferred task reaches the trigger's on_kill (not the operator's): it must cancel too."""
    from tradeflow_airflow.triggers.run import LangGraphRunTrigger

    llm.behave(latency_s=30)

    async def scenario() -> str:
        async with get_client(url=server.url, api_key=API_KEY) as client:
            return await cancel_through_trigger(client)

    async def cancel_through_trigger(client) -> str:
        thread = await client.threads.create()
        run = await client.runs.create(
            thread["thread_id"], "market_brief", input={"as_of": "2026-11-24", "positions": [POSITION]}
        )
        trigger = LangGraphRunTrigger(thread["thread_id"], run["run_id"])
        waiting = asyncio.create_task(anext(aiter(trigger.run())))
        await asyncio.sleep(1)
        await trigger.on_kill()
        event = await asyncio.wait_for(waiting, 20)
        assert event.payload["status"] == "cancelled"
        return str((await client.runs.get(thread["thread_id"], run["run_id"]))["status"])

    assert asyncio.run(scenario()) == "interrupted"
