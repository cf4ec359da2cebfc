"""The same graphs, auth hook, HTTP app and callbacks on a real Aegra (aegra-api 0.11), driven with langgraph-sdk.

Aegra keeps its tables in one scratch database and tradeflow its own in another; models are the LLM double.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from langgraph_sdk.client import LangGraphClient

from graphs.workflow_assistants import assistant_id
from graphs.workflows import repo_workflow
from tests.conftest import MODEL, model_env
from tests.doubles.llm_server import LLMServerDouble
from tests.support.aegra_server import AegraServer, Databases, aegra_databases, aegra_env, require_aegra
from tests.support.examples import example_input
from tests.support.sdk import get_client
from tests.support.secured_server import add_keys
from tests.support.versioning import variant

pytestmark = [pytest.mark.server, pytest.mark.postgres, pytest.mark.slow]
KEY = "aegra-test-key"
APPROVAL = {"approved": True, "comment": "price confirmed"}


@pytest.fixture(scope="module")
def databases() -> Iterator[Databases]:
    require_aegra()
    with aegra_databases() as dbs:
        yield dbs


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, llm_server: LLMServerDouble, databases: Databases
) -> Iterator[AegraServer]:
    workdir = tmp_path_factory.mktemp("aegra")
    env = aegra_env(workdir, model_env(llm_server), databases, TRADEFLOW_API_KEY=KEY, TRADEFLOW_GUARDRAIL_INTERVAL_S="1",
                    TRADEFLOW_KEY_CACHE_S="0")  # fmt: skip
    aegra = AegraServer(workdir, env)
    aegra.keys = add_keys({**env, "DATABASE_URL": databases.tradeflow})  # type: ignore[attr-defined]
    aegra.start()
    yield aegra
    aegra.stop()


@pytest.fixture
def client(server: AegraServer) -> LangGraphClient:
    return get_client(url=server.url, api_key=KEY)


def refused_with(error: httpx.HTTPStatusError, status: int, *fragments: str) -> None:
    """Aegra answers errors as ``{"error", "message"}`` (langgraph-api as ``{"detail"}``)."""
    assert error.response.status_code == status, error.response.text
    body = error.response.json()
    text = str(body.get("message") or body.get("detail"))
    for fragment in fragments:
        assert fragment in text, text


def workflow_rows(databases: Databases, run_ids: list[str], timeout_s: float = 20.0) -> dict[str, tuple[str, str]]:
    """run_id -> (workflow, status) from tradeflow's analytics table, waiting out the writer's flush interval."""
    deadline = time.monotonic() + timeout_s
    while True:
        with psycopg.connect(databases.tradeflow, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT run_id, workflow, status FROM workflow_runs WHERE run_id = ANY(%s)", (run_ids,)
            ).fetchall()
        found = {run_id: (workflow, status) for run_id, workflow, status in rows}
        if set(found) >= set(run_ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


async def test_health_and_auth(server: AegraServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        assert (await http.get("/health")).status_code == 200
        for headers in ({}, {"x-api-key": "wrong-key"}):
            refused = await http.post("/threads", json={}, headers=headers)
            assert refused.status_code == 401, refused.text
            assert (
                await http.post("/runs/wait", json={"assistant_id": "heartbeat"}, headers=headers)
            ).status_code == 401
        assert (await http.post("/threads", json={}, headers={"x-api-key": KEY})).status_code == 200


async def test_every_graph_example_runs(server: AegraServer, client: LangGraphClient, databases: Databases) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers={"x-api-key": KEY}, timeout=60) as http:
        published = await http.post("/workflows", json={"yaml": variant("market_brief", "v1"), "message": "first"})
        assert published.status_code == 201, published.text
        labelled = await http.put("/workflows/market_brief/labels/production", json={"version": 1, "reason": "go"})
        assert labelled.status_code == 200, labelled.text
    run_ids: dict[str, str] = {}
    for graph_id in ("market_brief", "eod_reconciliation", "heartbeat", "llm_router", "versioned_workflow",
                     "trade_break_triage"):  # fmt: skip
        thread = await client.threads.create()
        run = await client.runs.create(thread["thread_id"], graph_id, input=example_input(graph_id))
        await client.runs.join(thread["thread_id"], run["run_id"])
        run = await client.runs.get(thread["thread_id"], run["run_id"])
        expected = "interrupted" if graph_id == "trade_break_triage" else "success"
        assert run["status"] == expected, (graph_id, run)
        run_ids[graph_id] = run["run_id"]
        state = await client.threads.get_state(thread["thread_id"])
        if graph_id == "market_brief":
            assert state["values"]["brief"].startswith(f"[{MODEL}:")
        if graph_id == "heartbeat":
            assert state["values"]["message"] == "ping"
    # The analytics handler saw Aegra's str run ids and recorded each run under the SDK's run id.
    rows = workflow_rows(databases, list(run_ids.values()))
    assert rows[run_ids["market_brief"]] == ("market_brief", "success")
    assert rows[run_ids["trade_break_triage"]] == ("trade_break_triage", "interrupted")
    assert rows[run_ids["heartbeat"]] == ("heartbeat", "success")
    assert set(rows) == set(run_ids.values())
    # Published workflows become assistants on Aegra too (created over loopback by the server's upkeep task).
    deadline = time.monotonic() + 20
    while True:
        found = await client.assistants.search(metadata={"tradeflow_workflow": "market_brief"})
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert [a["assistant_id"] for a in found] == [assistant_id("market_brief")]


async def test_triage_interrupt_resume_history_and_update(server: AegraServer, client: LangGraphClient) -> None:
    """Started and approved by two identities: the legacy admin key starts, dave (operator + approver) approves."""
    keys = server.keys  # type: ignore[attr-defined]
    approver = get_client(url=server.url, api_key=keys["dave"])
    thread = await approver.threads.create()
    tid = thread["thread_id"]
    paused = await approver.runs.wait(tid, "trade_break_triage", input=example_input("trade_break_triage"))
    assert isinstance(paused, dict)
    state = await approver.threads.get_state(tid)
    assert state["next"] == ["request_approval"]
    assert state["tasks"][0]["interrupts"][0]["value"]["requested_by"] == "dave"
    with pytest.raises(httpx.HTTPStatusError) as info:
        await approver.runs.wait(tid, "trade_break_triage", command={"resume": {"approved": "yes"}})
    refused_with(info.value, 422, "resume.approved")
    with pytest.raises(httpx.HTTPStatusError) as info:  # four eyes: dave started it (read through Aegra's checkpointer)
        await approver.runs.wait(tid, "trade_break_triage", command={"resume": APPROVAL})
    refused_with(info.value, 403)
    history = await approver.threads.get_history(tid, limit=50)
    assert ["request_approval"] in [s["next"] for s in history]
    # Owners are isolated (Aegra scopes threads to the identity itself): another operator's guess is a 404, and
    # so is an approver's: on Aegra 0.11 another identity cannot answer the approval (docs/scaling.md).
    for other in ("carol", "bob"):
        peer = get_client(url=server.url, api_key=keys[other])
        for call in (peer.threads.get, peer.threads.get_state, peer.threads.get_history):
            with pytest.raises(httpx.HTTPStatusError) as info:
                await call(tid)
            assert info.value.response.status_code == 404
        assert await peer.runs.list(tid) == []  # Aegra lists none of another identity's runs
        assert tid not in {t["thread_id"] for t in await peer.threads.search(limit=100)}
    with pytest.raises(httpx.HTTPStatusError) as info:
        await get_client(url=server.url, api_key=keys["bob"]).runs.wait(
            tid, "trade_break_triage", command={"resume": APPROVAL}
        )
    assert info.value.response.status_code == 404
    with pytest.raises(httpx.HTTPStatusError) as info:
        await get_client(url=server.url, api_key=keys["vic"]).runs.wait(None, "heartbeat", input={"message": "x"})
    refused_with(info.value, 403, "viewer")
    with pytest.raises(httpx.HTTPStatusError) as info:
        await get_client(url=server.url, api_key=keys["rex"]).threads.create()  # revoked
    assert info.value.response.status_code == 401


async def test_bad_input_is_refused_before_a_run_exists(client: LangGraphClient, llm_double: LLMServerDouble) -> None:
    thread = await client.threads.create()
    payload = example_input("eod_reconciliation")
    payload["book_positions"][2]["quantity"] = "nine hundred"
    with pytest.raises(httpx.HTTPStatusError) as info:
        await client.runs.create(thread["thread_id"], "eod_reconciliation", input=payload)
    refused_with(info.value, 422, "book_positions.2.quantity: Input should be a valid number")
    assert await client.runs.list(thread["thread_id"]) == []
    assert llm_double.requests == []
    # An assistant created through the API is looked up in Aegra's own table (no in-process client there).
    assistant = await client.assistants.create("heartbeat", name="probe", context={})
    with pytest.raises(httpx.HTTPStatusError) as info:
        await client.runs.wait(None, assistant["assistant_id"], input={"message": 1})
    refused_with(info.value, 422, "graph 'heartbeat'", "message: Input should be a valid string")
    out = await client.runs.wait(None, assistant["assistant_id"], input={"message": "ok"})
    assert isinstance(out, dict)
    assert out["message"] == "ok"


async def test_state_updates_that_do_not_fit_the_schema_are_refused(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "heartbeat", input={"message": "ok"})
    before = await client.threads.get_history(thread["thread_id"])
    for values, fragment in (({"message": 42}, "values.message: Input should be a valid string"),
                             ({"figures": 42}, "values.figures: unknown state key")):  # fmt: skip
        with pytest.raises(httpx.HTTPStatusError) as info:
            await client.threads.update_state(thread["thread_id"], values)
        refused_with(info.value, 400, fragment)
    assert len(await client.threads.get_history(thread["thread_id"])) == len(before)
    await client.threads.update_state(thread["thread_id"], {"message": "edited"})
    assert (await client.threads.get_state(thread["thread_id"]))["values"]["message"] == "edited"


async def test_metrics_and_reports(server: AegraServer, client: LangGraphClient) -> None:
    await client.runs.wait(None, "market_brief", input=example_input("market_brief"))
    async with httpx.AsyncClient(base_url=server.url, headers={"x-api-key": KEY}, timeout=10) as http:
        text = (await http.get("/metrics")).text
        version = repo_workflow("market_brief")[1]
        assert f'tradeflow_workflow_runs_total{{status="success",version="{version}",workflow="market_brief"}}' in text
        assert 'gen_ai_client_token_usage_count{gen_ai_operation_name="chat",gen_ai_provider_name="openai"' in text
        deadline = time.monotonic() + 20
        while True:
            cost: list[dict[str, Any]] = (await http.get("/reports/cost", params={"since": "1d"})).json()
            if any(row["workflow"] == "market_brief" for row in cost) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert any(row["workflow"] == "market_brief" and row["calls"] >= 1 for row in cost), cost
        flows = (await http.get("/reports/workflows", params={"since": "1d"})).json()
        assert "market_brief" in {f["workflow"] for f in flows}
        assert (await http.get("/reports/trends", params={"since": "1d"})).status_code == 200
        bad = await http.get("/reports/cost", params={"by": "model;drop table llm_calls"})
        assert bad.status_code == 400
        assert (await http.get("/router/backends")).status_code == 200


def test_aegra_tables_and_tradeflow_tables_are_apart(server: AegraServer, databases: Databases) -> None:
    def tables(url: str) -> set[str]:
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
        return {row[0] for row in rows}

    server_tables, tradeflow_tables = tables(databases.server), tables(databases.tradeflow)
    assert {"assistant", "thread", "runs", "checkpoints"} <= server_tables
    assert {"workflow_runs", "llm_calls"} <= tradeflow_tables
    assert not {"workflow_runs", "llm_calls", "router_spend"} & server_tables
    assert not {"assistant", "thread", "runs", "checkpoints"} & tradeflow_tables
    assert Path(server.log_path).exists()
