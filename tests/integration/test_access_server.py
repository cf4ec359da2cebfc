"""Bad input and attacks over HTTP against a real server (each server in ``SERVERS`` is a fixture parameter).

Missing, wrong and revoked keys; a viewer trying to run, approve or publish; an owner guessing another's thread,
run and checkpoint ids; an approver approving their own run; a resume naming another approver; report filters
with SQL; oversized bodies. Each gets a clear 401/403/404/413/422, and nothing is written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from access.audit import ApprovalAudit
from access.db import AccessDB
from tests.conftest import model_env
from tests.doubles.llm_server import LLMServerDouble
from tests.support.examples import example_input
from tests.support.secured_server import BODY_LIMIT, METRICS_TOKEN, SERVERS, SecuredServer, secured_env

pytestmark = [pytest.mark.server, pytest.mark.slow]

CUSTOM_ROUTES = ["/reports/cost", "/reports/workflows", "/reports/trends", "/router/backends", "/workflows", "/metrics"]
META_ROUTES = ["/docs", "/info", "/openapi.json"]


@pytest.fixture(scope="module", params=sorted(SERVERS))
def secured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, llm_server: LLMServerDouble
) -> Iterator[SecuredServer]:
    workdir = tmp_path_factory.mktemp(f"access-{request.param}")
    server = SERVERS[request.param](workdir, secured_env(workdir, model_env(llm_server)))
    yield server
    server.stop()


# Where Aegra 0.11 differs from langgraph-api, so that these tests cannot pass there as written (docs/scaling.md).
# Strict: each must keep failing on Aegra, so the day one passes it is noticed and taken off this list.
AEGRA_DIFFERENCES = {
    "test_only_ok_is_open": "Aegra's health check is /health and its /info is open; its errors say message, not detail",
    "test_a_viewer_cannot_run_approve_or_publish": "Aegra scopes threads to the identity: an approver gets 404",
    "test_an_owner_guessing_another_owners_ids_gets_404": "Aegra lists another identity's runs as [] (not 404)",
    "test_four_eyes_on_trade_break_approvals": "Aegra scopes threads to the identity: another approver gets 404",
}


@pytest.fixture(autouse=True)
def _aegra_differences(request: pytest.FixtureRequest) -> None:
    reason = AEGRA_DIFFERENCES.get(request.node.originalname)
    if reason and "secured" in request.fixturenames and request.getfixturevalue("secured").name == "aegra":
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))


def sdk(server: SecuredServer, identity: str) -> LangGraphClient:
    return get_client(url=server.url, api_key=server.keys[identity])


@pytest.fixture
async def http(secured: SecuredServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=secured.url, timeout=60) as client:
        yield client


def audit(server: SecuredServer) -> ApprovalAudit:
    data = Path(server.env["TRADEFLOW_DATA_DIR"])
    return ApprovalAudit(AccessDB(server.env.get("DATABASE_URL"), data / "access.sqlite"))


async def status_of(call: Any) -> int:
    try:
        await call
    except httpx.HTTPStatusError as exc:
        return exc.response.status_code
    return 200


async def all_threads(server: SecuredServer) -> list[str]:
    found = await sdk(server, "ann").threads.search(limit=1000)
    return sorted(t["thread_id"] for t in found)


async def paused_triage(server: SecuredServer, identity: str) -> str:
    client = sdk(server, identity)
    thread = (await client.threads.create())["thread_id"]
    paused = await client.runs.wait(thread, "trade_break_triage", input=example_input("trade_break_triage"))
    assert isinstance(paused, dict)
    assert paused["__interrupt__"][0]["value"]["requested_by"] == identity
    return thread


async def test_only_ok_is_open(secured: SecuredServer, http: httpx.AsyncClient) -> None:
    assert (await http.get("/ok")).status_code == 200
    for path in [*CUSTOM_ROUTES, *META_ROUTES]:
        for headers in ({}, {"x-api-key": "tfk_0000_wrong"}, {"x-api-key": secured.keys["rex"]}):
            response = await http.get(path, headers=headers)
            assert response.status_code == 401, (path, headers, response.text)
    missing = await http.post("/threads/search", json={})
    assert (missing.status_code, missing.json()["detail"]) == (401, "missing x-api-key")
    revoked = await http.post("/threads/search", json={}, headers={"x-api-key": secured.keys["rex"]})
    assert (revoked.status_code, revoked.json()["detail"]) == (401, "unknown, wrong or revoked x-api-key")
    for path in CUSTOM_ROUTES:
        assert (await http.get(path, headers={"x-api-key": secured.keys["vic"]})).status_code == 200, path
    if secured.name == "langgraph-dev":  # its meta routes, turned off in langgraph-api, come back behind the hook
        for path in META_ROUTES:
            assert (await http.get(path, headers={"x-api-key": secured.keys["vic"]})).status_code == 200, path


async def test_metrics_take_the_scrape_token_and_nothing_else_does(http: httpx.AsyncClient) -> None:
    bearer = {"authorization": f"Bearer {METRICS_TOKEN}"}
    scraped = await http.get("/metrics", headers=bearer)
    assert scraped.status_code == 200
    assert "tradeflow_" in scraped.text
    assert (await http.get("/metrics", headers={"authorization": "Bearer not-the-token"})).status_code == 401
    for path in ["/reports/cost", "/router/backends", "/workflows"]:
        assert (await http.get(path, headers=bearer)).status_code == 401, path
    assert (await http.post("/threads/search", json={}, headers=bearer)).status_code == 401


async def test_a_viewer_cannot_run_approve_or_publish(secured: SecuredServer, http: httpx.AsyncClient) -> None:
    waiting = await paused_triage(secured, "alice")
    before, state = await all_threads(secured), await sdk(secured, "ann").threads.get_state(waiting)
    viewer = sdk(secured, "vic")
    assert await status_of(viewer.threads.create()) == 403
    assert await status_of(viewer.runs.wait(None, "heartbeat", input={"message": "x"})) == 403
    refused = await http.post("/runs/wait", json={"assistant_id": "heartbeat", "input": {"message": "x"}},
                              headers={"x-api-key": secured.keys["vic"]})  # fmt: skip
    assert refused.status_code == 403
    assert "needs the operator role" in refused.json()["detail"]
    approve = viewer.runs.wait(waiting, "trade_break_triage", command={"resume": {"approved": True}})
    assert await status_of(approve) == 403
    workflows = (await http.get("/workflows", headers={"x-api-key": secured.keys["ann"]})).json()
    spec = (Path(__file__).resolve().parents[2] / "workflows" / "market_brief.yaml").read_text()
    publish = await http.post("/workflows", json={"yaml": spec}, headers={"x-api-key": secured.keys["vic"]})
    assert publish.status_code == 403
    assert "'vic' (roles: viewer) may not POST /workflows: it needs the operator role" in publish.json()["error"]
    label = await http.put("/workflows/market_brief/labels/production", json={"version": 1},
                           headers={"x-api-key": secured.keys["vic"]})  # fmt: skip
    assert label.status_code == 403
    rollback = await http.post("/workflows/market_brief/rollback", json={}, headers={"x-api-key": secured.keys["vic"]})
    assert rollback.status_code == 403
    # nothing written: no thread, no checkpoint on the waiting one, no audit row, no published version
    assert await all_threads(secured) == before
    after = await sdk(secured, "ann").threads.get_state(waiting)
    assert after["checkpoint"]["checkpoint_id"] == state["checkpoint"]["checkpoint_id"]
    assert audit(secured).decisions(thread_id=waiting) == []
    assert (await http.get("/workflows", headers={"x-api-key": secured.keys["ann"]})).json() == workflows


async def test_an_owner_guessing_another_owners_ids_gets_404(secured: SecuredServer) -> None:
    alice, carol = sdk(secured, "alice"), sdk(secured, "carol")
    thread = (await alice.threads.create(metadata={"desk": "rates"}))["thread_id"]
    run = await alice.runs.create(thread, "heartbeat", input={"message": "mine"})
    await alice.runs.join(thread, run["run_id"])
    [latest, *_] = await alice.threads.get_history(thread)
    checkpoint_id = latest["checkpoint"]["checkpoint_id"]
    before = await alice.threads.get_state(thread)
    guesses = {
        "thread": carol.threads.get(thread),
        "state": carol.threads.get_state(thread),
        "state at checkpoint": carol.threads.get_state(thread, checkpoint_id=checkpoint_id),
        "history": carol.threads.get_history(thread),
        "runs": carol.runs.list(thread),
        "run": carol.runs.get(thread, run["run_id"]),
        "join": carol.runs.join(thread, run["run_id"]),
        "new run": carol.runs.wait(thread, "heartbeat", input={"message": "theirs"}),
        "update state": carol.threads.update_state(thread, {"message": "theirs"}),
        "update metadata": carol.threads.update(thread, metadata={"desk": "fx"}),
        "delete": carol.threads.delete(thread),
    }
    for name, call in guesses.items():
        assert await status_of(call) == 404, name
    assert thread not in [t["thread_id"] for t in await carol.threads.search(limit=1000)]
    # a client cannot claim another owner either
    assert await status_of(carol.threads.update(thread, metadata={"owner": "carol"})) == 404
    stolen = await carol.threads.create(metadata={"owner": "alice"})
    assert stolen["metadata"]["owner"] == "carol"
    # nothing changed; the owner and an admin still see it
    after = await alice.threads.get_state(thread)
    assert (after["values"], after["checkpoint"]) == (before["values"], before["checkpoint"])
    metadata = (await alice.threads.get(thread))["metadata"]
    assert (metadata["desk"], metadata["owner"]) == ("rates", "alice")
    assert (await sdk(secured, "ann").threads.get(thread))["thread_id"] == thread


async def test_four_eyes_on_trade_break_approvals(secured: SecuredServer) -> None:
    thread = await paused_triage(secured, "dave")  # dave holds operator and approver
    dave, bob = sdk(secured, "dave"), sdk(secured, "bob")
    state = await bob.threads.get_state(thread)

    async def refused(client: LangGraphClient, resume: dict[str, Any]) -> tuple[int, str]:
        with pytest.raises(httpx.HTTPStatusError) as info:
            await client.runs.wait(thread, "trade_break_triage", command={"resume": resume})
        return info.value.response.status_code, info.value.response.json()["detail"]

    status, detail = await refused(dave, {"approved": True})
    assert status == 403
    assert "four eyes: 'dave' started this run and may not approve it" in detail
    status, detail = await refused(bob, {"approved": True, "approver": "dave.boss"})
    assert status == 403
    assert "resume.approver: names 'dave.boss' but the request is authenticated as 'bob'" in detail
    status, detail = await refused(sdk(secured, "carol"), {"approved": True})
    assert (status, "needs the approver role" in detail) == (403, True)
    status, detail = await refused(bob, {"approved": "yes"})
    assert (status, "resume.approved" in detail) == (422, True)
    after = await bob.threads.get_state(thread)
    assert after["checkpoint"]["checkpoint_id"] == state["checkpoint"]["checkpoint_id"]
    assert audit(secured).decisions(thread_id=thread) == []

    final = await bob.runs.wait(thread, "trade_break_triage", command={"resume": {"approved": True, "comment": "ok"}})
    assert isinstance(final, dict)
    assert (final["decision"], final["approver"], final["requested_by"]) == ("approved", "bob", "dave")
    [row] = audit(secured).decisions(thread_id=thread)
    assert (row.identity, row.requested_by, row.decision, row.reason) == ("bob", "dave", "approved", "ok")
    assert row.break_id == "BRK-2026-11-24-0042"


async def test_a_currency_the_rates_cannot_convert_is_refused_naming_the_field(secured: SecuredServer) -> None:
    payload = example_input("trade_break_triage")
    payload["trade_break"]["currency"] = "EUR"
    before = await all_threads(secured)
    with pytest.raises(httpx.HTTPStatusError) as info:
        await sdk(secured, "alice").runs.wait(None, "trade_break_triage", input=payload)
    assert info.value.response.status_code == 422
    assert "trade_break.currency: 'EUR' cannot be converted to the threshold currency 'USD'" in info.value.response.text
    assert await all_threads(secured) == before
    payload["fx_rates"] = {"EUR": 0.01}  # 25m EUR at 0.01 is 250k USD: under the threshold
    out = await sdk(secured, "alice").runs.wait(None, "trade_break_triage", input=payload)
    assert isinstance(out, dict)
    assert (out["threshold_notional"], out["decision"]) == (250_000.0, "auto_approved")


@pytest.mark.parametrize("value", ["x' OR '1'='1", "wf; DROP TABLE analytics_runs;--", "a b", "' UNION SELECT 1--"])
async def test_report_filters_with_sql_are_refused_before_any_query(
    secured: SecuredServer, http: httpx.AsyncClient, value: str
) -> None:
    for name in ("workflow", "model", "provider"):
        response = await http.get("/reports/cost", params={name: value}, headers={"x-api-key": secured.keys["vic"]})
        assert response.status_code == 400
        assert response.json()["error"].startswith(f"{name}: expected a {name} name")
    assert "analytics store" not in secured.output()  # no query ran, so no database error either


async def test_oversized_bodies_are_refused_with_413(secured: SecuredServer, http: httpx.AsyncClient) -> None:
    big = "x" * (BODY_LIMIT + 1)
    headers = {"x-api-key": secured.keys["alice"]}
    before = await all_threads(secured)
    assert (await http.post("/threads", json={"metadata": {"blob": big}}, headers=headers)).status_code == 413
    run = await http.post("/runs/wait", json={"assistant_id": "heartbeat", "input": {"message": big}}, headers=headers)
    assert run.status_code == 413
    publish = await http.post("/workflows", json={"yaml": big}, headers=headers)
    assert publish.status_code == 413
    assert "TRADEFLOW_MAX_BODY_BYTES" in publish.json()["error"]
    assert await all_threads(secured) == before
