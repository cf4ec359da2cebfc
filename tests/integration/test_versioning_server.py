"""Workflow versioning on a real ``langgraph dev`` server: the HTTP routes, published workflows as assistants,
xray of ``versioned_workflow``, and an approval run that keeps its version through a rollback."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from access.db import AccessDB
from access.keys import KeyStore
from graphs.workflow_assistants import assistant_id
from tests.conftest import model_env
from tests.doubles.llm_server import LLMServerDouble
from tests.support.examples import example_input
from tests.support.langgraph_server import DevServer
from tests.support.sdk import get_client
from tests.support.versioning import variant

pytestmark = [pytest.mark.server]
KEY = "versioning-test-key"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, llm_server: LLMServerDouble) -> Iterator[DevServer]:
    workdir = tmp_path_factory.mktemp("versioning-server")
    env = {**os.environ, **model_env(llm_server), "TRADEFLOW_DATA_DIR": str(workdir / "data"), "TRADEFLOW_API_KEY": KEY,
           "TRADEFLOW_GUARDRAIL_INTERVAL_S": "60"}  # fmt: skip
    env.pop("DATABASE_URL", None)
    dev = DevServer(workdir, env).start()
    store = KeyStore(AccessDB(None, workdir / "data" / "access.sqlite"), 0)
    dev.approver_key = store.add("a.n", ["approver"], created_by="test")[1]  # type: ignore[attr-defined]
    store.db.close()
    yield dev
    dev.stop()


@pytest.fixture
async def http(server: DevServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, headers={"x-api-key": KEY}, timeout=60) as client:
        yield client


@pytest.fixture
def sdk(server: DevServer) -> LangGraphClient:
    return get_client(url=server.url, api_key=KEY)


async def publish(http: httpx.AsyncClient, text: str, message: str) -> dict[str, Any]:
    response = await http.post("/workflows", json={"yaml": text, "message": message, "author": "jane"})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_routes_refuse_bad_input_before_writing_anything(http: httpx.AsyncClient, server: DevServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as anonymous:
        assert (await anonymous.get("/workflows")).status_code == 401
    bad = variant("market_brief", "bad").replace("tool: market_brief.compute_figures", "tool: nope")
    refused = await http.post("/workflows", json={"yaml": bad})
    assert refused.status_code == 422
    body = refused.json()
    assert (body["field"], body["problems"][0]["line"]) == ("steps[0].tool", 16)
    assert "unknown tool 'nope'" in body["error"]
    assert (await http.get("/workflows/market_brief/versions")).status_code == 404
    first = await publish(http, variant("market_brief", "v1"), "first")
    assert (first["version"], first["created"]) == (1, True)
    assert (await publish(http, variant("market_brief", "v1"), "again"))["created"] is False
    assert (await publish(http, variant("market_brief", "v2"), "second"))["version"] == 2
    missing = await http.put("/workflows/market_brief/labels/production", json={"version": 9, "reason": "x"})
    assert (missing.status_code, missing.json()["field"]) == (422, "version")
    assert (await http.get("/workflows/market_brief/labels")).json() == {}
    moved = await http.put("/workflows/market_brief/labels/production", json={"version": 1, "reason": "go live"})
    assert moved.json() == {"workflow": "market_brief", "label": "production", "from": None, "to": 1}
    [listed] = (await http.get("/workflows")).json()
    assert listed == {"workflow": "market_brief", "latest_version": 2, "labels": {"production": 1},
                      "owner": "trading-desk", "description": "Morning market brief from a positions snapshot",
                      "schedule": None}  # fmt: skip
    version = (await http.get("/workflows/market_brief/versions/2")).json()
    assert (version["spec"]["id"], version["yaml"]) == ("market_brief", variant("market_brief", "v2"))
    diff = (await http.get("/workflows/market_brief/diff", params={"from": 1, "to": 2})).json()
    assert "+# v2" in diff["unified"]
    resolved = (await http.get("/workflows/market_brief/resolve", params={"unit_key": "desk-7"})).json()
    assert (resolved["version"], resolved["label"], resolved["experiment"]) == (1, "production", None)
    arms = [{"name": "control", "version": 1, "weight": 0.5}, {"name": "treatment", "version": 2, "weight": 0.6}]
    bad_weights = await http.post("/experiments", json={"workflow": "market_brief", "arms": arms})
    assert (bad_weights.status_code, bad_weights.json()["field"]) == (422, "arms")
    arms[1]["weight"] = 0.5
    started = await http.post("/experiments", json={"workflow": "market_brief", "arms": arms, "name": "brief-ab"})
    assert started.status_code == 201
    second = await http.post("/experiments", json={"workflow": "market_brief", "arms": arms, "name": "other"})
    assert (second.status_code, second.json()["field"]) == (409, "workflow")
    assert (await http.post("/experiments/brief-ab/stop", json={"reason": "done"})).json()["status"] == "stopped"
    actions = [event["action"] for event in (await http.get("/workflows/market_brief/audit")).json()]
    assert actions == ["move", "experiment_start", "experiment_stop"]


async def test_a_published_workflow_is_an_assistant_studio_draws_with_the_router_inside(
    http: httpx.AsyncClient, sdk: LangGraphClient
) -> None:
    await publish(http, variant("market_brief", "v1"), "first")
    await http.put("/workflows/market_brief/labels/production", json={"version": 1})
    assistant = assistant_id("market_brief")
    for _ in range(100):
        found = await sdk.assistants.search(graph_id="versioned_workflow", limit=20)
        if any(a["assistant_id"] == assistant for a in found):
            break
        await asyncio.sleep(0.2)
    drawn = await sdk.assistants.get_graph(assistant, xray=True)
    ids = {node["id"] for node in drawn["nodes"]}
    assert {"resolve", "run:compute_market_figures", "run:write_brief:rank_backends",
            "run:write_brief:call_backend", "run:write_brief:account"} <= ids  # fmt: skip
    result = await sdk.runs.wait(None, assistant, input={"input": example_input("market_brief")})
    assert isinstance(result, dict)
    assert (result["workflow"], result["version"], result["label"]) == ("market_brief", 1, "production")
    assert result["output"]["figures"]["total_pnl"] == pytest.approx(93514.5)
    assert result["airflow_asset_events"] == []


async def test_an_interrupted_run_keeps_its_version_through_a_rollback(
    http: httpx.AsyncClient, sdk: LangGraphClient, server: DevServer
) -> None:
    await publish(http, variant("trade_break_triage", "v1"), "first")
    await publish(http, variant("trade_break_triage", "v2"), "second")
    await http.put("/workflows/trade_break_triage/labels/production", json={"version": 1})
    await http.put("/workflows/trade_break_triage/labels/production", json={"version": 2})
    thread = (await sdk.threads.create())["thread_id"]
    payload = {"workflow": "trade_break_triage", "input": example_input("trade_break_triage")}
    paused = await sdk.runs.wait(thread, "versioned_workflow", input=payload)
    assert isinstance(paused, dict)
    assert paused["__interrupt__"][0]["value"]["break_id"] == "BRK-2026-11-24-0042"
    assert (await sdk.threads.get_state(thread))["values"]["version"] == 2
    with pytest.raises(httpx.HTTPStatusError) as refused:  # a pinned version is not edited into a string
        await sdk.threads.update_state(thread, {"version": "one"})
    assert "values.version" in refused.value.response.json()["detail"]
    rolled = await http.post("/workflows/trade_break_triage/rollback", json={"label": "production", "reason": "bad"})
    assert rolled.json()["to"] == 1
    with pytest.raises(httpx.HTTPStatusError) as info:
        await sdk.runs.wait(thread, "versioned_workflow", command={"resume": {"approved": "yes"}})
    assert info.value.response.status_code == 422
    assert "resume.approved" in info.value.response.json()["detail"]
    with pytest.raises(httpx.HTTPStatusError) as own:  # four eyes: whoever started the run may not approve it
        await sdk.runs.wait(thread, "versioned_workflow", command={"resume": {"approved": True}})
    assert own.value.response.status_code == 403
    assert "'api-key' started this run and may not approve it" in own.value.response.json()["detail"]
    approver = get_client(url=server.url, api_key=server.approver_key)  # type: ignore[attr-defined]
    final = await approver.runs.wait(thread, "versioned_workflow", command={"resume": {"approved": True}})
    assert isinstance(final, dict)
    assert (final["version"], final["output"]["status"]) == (2, "resolution_approved")
    fresh = await sdk.runs.wait(None, "versioned_workflow", input=payload)
    assert isinstance(fresh, dict)
    assert fresh["version"] == 1


READER_FIELDS = "  acknowledged_by: {type: string}\n  acknowledgement_comment: {type: string}\n"
ACKNOWLEDGED = """
  - id: acknowledge_brief
    type: approval
    request: {brief: "{brief}"}
    resume: acknowledge
"""


async def test_a_resume_is_checked_against_the_handler_of_the_step_it_answers(
    http: httpx.AsyncClient, sdk: LangGraphClient
) -> None:
    """Broke: every versioned resume was checked as a triage approval, whatever the waiting step's handler: an
    approval-shaped answer to an acknowledgement step started a run (which only asked again), and a valid
    acknowledgement was refused."""
    text = (
        variant("market_brief", "acknowledged")
        .replace("id: market_brief", "id: read_brief", 1)
        .replace("output: [figures, brief]", "output: [figures, brief, acknowledged_by, acknowledgement_comment]")
        .replace("  brief: {type: string", READER_FIELDS + "  brief: {type: string")
        + ACKNOWLEDGED
    )
    await publish(http, text, "the desk head reads the brief")
    await http.put("/workflows/read_brief/labels/production", json={"version": 1, "reason": "go"})
    thread = (await sdk.threads.create())["thread_id"]
    payload = {"workflow": "read_brief", "input": example_input("market_brief")}
    paused = await sdk.runs.wait(thread, "versioned_workflow", input=payload)
    assert isinstance(paused, dict)
    assert '"acknowledged": true' in paused["__interrupt__"][0]["value"]["instructions"]
    runs_before = len(await sdk.runs.list(thread))
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await sdk.runs.wait(thread, "versioned_workflow", command={"resume": {"approved": True}})
    assert refused.value.response.status_code == 422
    detail = refused.value.response.json()["detail"]
    assert "resume.acknowledged: expected true, got None (step 'acknowledge_brief', handler 'acknowledge')" in detail
    assert "resume.approved: unexpected field" in detail
    assert len(await sdk.runs.list(thread)) == runs_before  # refused before the run existed
    final = await sdk.runs.wait(thread, "versioned_workflow",
                                command={"resume": {"acknowledged": True, "comment": "read"}})  # fmt: skip
    assert isinstance(final, dict)
    assert (final["version"], final["output"]["acknowledged_by"], final["output"]["acknowledgement_comment"]) == (
        1, "api-key", "read")  # fmt: skip


async def test_a_stale_label_move_rollback_ramp_or_stop_is_a_409(http: httpx.AsyncClient) -> None:
    """Broke: label moves, rollbacks, ramps and stops overwrote whatever a concurrent mover had done."""
    for marker in ("v1", "v2", "v3"):
        await publish(http, variant("market_brief", marker).replace("id: market_brief", "id: cas_brief", 1), marker)
    for version in (1, 2):
        await http.put("/workflows/cas_brief/labels/production", json={"version": version, "reason": "go"})
    stale = await http.put("/workflows/cas_brief/labels/production", json={"version": 3, "expect": 1})
    assert (stale.status_code, stale.json()["field"]) == (409, "label")
    assert "points at version 2, not version 1" in stale.json()["error"]
    rolled = await http.post("/workflows/cas_brief/rollback", json={"reason": "x", "expect": 3})
    assert (rolled.status_code, rolled.json()["field"]) == (409, "label")
    guarded = await http.put("/workflows/cas_brief/labels/production",
                             json={"version": 3, "expect": 2, "guardrail": {"max_error_rate": 0.3}})  # fmt: skip
    assert guarded.json() == {"workflow": "cas_brief", "label": "production", "from": 2, "to": 3}
    arms = [{"name": "control", "version": 1, "weight": 0.5}, {"name": "treatment", "version": 3, "weight": 0.5}]
    started = await http.post("/experiments", json={"workflow": "cas_brief", "arms": arms, "name": "cas-ab"})
    assert started.json()["revision"] == 0
    ramped = await http.post("/experiments/cas-ab/ramp", json={"weights": {"control": 0.2, "treatment": 0.8},
                                                              "revision": 0})  # fmt: skip
    assert ramped.json()["revision"] == 1
    again = await http.post("/experiments/cas-ab/ramp", json={"weights": {"control": 0.5, "treatment": 0.5},
                                                             "revision": 0})  # fmt: skip
    assert (again.status_code, again.json()["field"]) == (409, "revision")
    assert (await http.post("/experiments/cas-ab/stop", json={"revision": 1})).status_code == 200
    twice = await http.post("/experiments/cas-ab/stop", json={})
    assert (twice.status_code, twice.json()["field"]) == (409, "experiment")
    actions = [(e["action"], e["to_version"]) for e in (await http.get("/workflows/cas_brief/audit")).json()]
    assert actions == [("move", 1), ("move", 2), ("move", 3), ("guardrail", 3), ("experiment_start", None),
                       ("experiment_ramp", None), ("experiment_stop", None)]  # fmt: skip
