"""Two Aegra replicas on one Postgres and one Redis (Aegra's Redis mode): work spreads, threads move between
replicas, a replica killed with ``kill -9`` mid-run leaves its thread to finish on the other with no completed step
repeated, router budgets hold across both, and a real Prometheus scrapes both.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from langgraph_sdk.client import LangGraphClient

from access.audit import ApprovalAudit
from access.db import AccessDB
from access.keys import KeyStore
from router.ledger import utc_today
from router.spend_store import PostgresSpendStore
from tests.conftest import MODEL, ROUTER_DOUBLE, model_env
from tests.doubles.llm_server import Behaviour, LLMServerDouble
from tests.support.aegra_server import (
    AegraServer,
    Databases,
    aegra_databases,
    aegra_env,
    redis_env,
    require_aegra,
    require_redis,
)
from tests.support.examples import example_input
from tests.support.langgraph_server import free_port
from tests.support.sdk import get_client

pytestmark = [pytest.mark.server, pytest.mark.postgres, pytest.mark.slow]
APPROVAL = {"approved": True, "comment": "price confirmed"}
# test-model on the openai backend: 0.15 / 0.60 USD per 1M tokens (tests/fixtures/prices_double.yaml).
PRICE_IN, PRICE_OUT = 0.15e-6, 0.60e-6
ONE_CALL = 100 * PRICE_IN + 300 * PRICE_OUT  # llm_router's example prompt (< 100 tokens), a 300-token answer
BUDGET = 3 * ONE_CALL
# Leases short enough that a killed replica's run is noticed within seconds (Aegra's defaults: 30 s lease,
# 15 s reaper). No automatic retry: Aegra 0.11 retries a crashed run with its original input, which would
# start the graph over; the thread is resumed from its last checkpoint instead (docs/scaling.md).
FAST_RECOVERY = {"LEASE_DURATION_SECONDS": "6", "HEARTBEAT_INTERVAL_SECONDS": "2", "REAPER_INTERVAL_SECONDS": "2",
                 "BG_JOB_MAX_RETRIES": "0", "AEGRA_CHECKPOINT_DURABILITY": "sync"}  # fmt: skip


def _budget_table(path: Path) -> Path:
    table = yaml.safe_load(ROUTER_DOUBLE.read_text())
    table["budgets_usd_per_day"] = {"spend-test": BUDGET}
    path.write_text(yaml.safe_dump(table))
    return path


@pytest.fixture(scope="module")
def databases() -> Iterator[Databases]:
    require_aegra()
    require_redis()
    with aegra_databases() as dbs:
        yield dbs


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, llm_server: LLMServerDouble, databases: Databases
) -> Iterator[list[AegraServer]]:
    workdir = tmp_path_factory.mktemp("replicas")
    env = aegra_env(workdir, model_env(llm_server), databases, **redis_env(f"tradeflow-test-{uuid.uuid4().hex[:8]}"),
                    **FAST_RECOVERY, TRADEFLOW_ROUTER_CONFIG=str(_budget_table(workdir / "table.yaml")))  # fmt: skip
    started: list[AegraServer] = []
    try:
        for name in ("a", "b"):  # one after the other: the first runs Aegra's migrations
            started.append(AegraServer(workdir, env, name=f"replica-{name}").start())
        yield started
    finally:
        for server in started:
            server.stop()


def clients(replicas: list[AegraServer]) -> tuple[LangGraphClient, LangGraphClient]:
    return get_client(url=replicas[0].url), get_client(url=replicas[1].url)


async def test_clients_spread_over_both_and_threads_move_between_them(replicas: list[AegraServer]) -> None:
    a, b = clients(replicas)
    outs = []
    for i in range(4):
        here, there = (a, b) if i % 2 == 0 else (b, a)
        thread = await here.threads.create()
        out = await here.runs.wait(thread["thread_id"], "heartbeat", input={"message": f"ping-{i}"})
        assert isinstance(out, dict)
        outs.append(out["message"])
        state = await there.threads.get_state(thread["thread_id"])  # written through one, read through the other
        assert state["values"]["message"] == f"ping-{i}"
    assert outs == ["ping-0", "ping-1", "ping-2", "ping-3"]


async def test_interrupted_through_a_resumes_through_b(replicas: list[AegraServer]) -> None:
    a, b = clients(replicas)
    thread = await a.threads.create()
    tid = thread["thread_id"]
    await a.runs.wait(tid, "trade_break_triage", input=example_input("trade_break_triage"))
    assert (await b.threads.get_state(tid))["next"] == ["request_approval"]
    final = await b.runs.wait(tid, "trade_break_triage", command={"resume": APPROVAL})
    assert isinstance(final, dict)
    assert final["decision"] == "approved"
    assert (await a.threads.get_state(tid))["values"]["status"] == "resolution_approved"


async def _wait_for(predicate: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.25)


async def test_a_replica_killed_mid_run_leaves_the_thread_to_finish_on_the_other(
    replicas: list[AegraServer], llm_double: LLMServerDouble, databases: Databases
) -> None:
    """market_brief: compute_market_figures (no model), then write_brief (one model call, slowed down here)."""
    a, _ = clients(replicas)
    llm_double.set_behaviour(MODEL, Behaviour(latency_s=4.0))
    thread = await a.threads.create()
    tid = thread["thread_id"]
    run = await a.runs.create(tid, "market_brief", input=example_input("market_brief"))

    async def model_called() -> bool:
        return len(llm_double.requests_for(MODEL)) >= 1

    await _wait_for(model_called, 60, "write_brief's model call")
    # Redis mode: any replica's worker may execute any run; Aegra records which ("<host>-<pid>-worker-<n>").
    with psycopg.connect(databases.server, autocommit=True) as conn:
        row = conn.execute("SELECT claimed_by FROM runs WHERE run_id = %s", (run["run_id"],)).fetchone()
    assert row is not None
    assert row[0], row
    [killed] = [r for r in replicas if f"-{r.pid}-worker-" in row[0]]
    survivor = replicas[1] if killed is replicas[0] else replicas[0]
    killed.kill()
    other = get_client(url=survivor.url)

    async def run_failed() -> bool:
        current = await other.runs.get(tid, run["run_id"])
        return current["status"] in ("error", "success")

    await _wait_for(run_failed, 60, "the lease of the killed run to expire")
    state = await other.threads.get_state(tid)
    assert state["next"] == ["write_brief"]  # figures were checkpointed before the kill
    assert "figures" in state["values"]
    llm_double.set_behaviour(MODEL, Behaviour())
    # Resume from the last checkpoint (Aegra wants an input, a command or a checkpoint: the latest one).
    final = await other.runs.wait(tid, "market_brief", input=None, checkpoint=state["checkpoint"])
    assert isinstance(final, dict)
    assert final["brief"].startswith(f"[{MODEL}:")
    history = await other.threads.get_history(tid, limit=50)
    # The graph was not started over: one start, one compute_market_figures step, whose result one loop checkpoint
    # holds (resuming from a given checkpoint adds a copy of it, source "fork", not a step).
    steps = [(s["next"], s["metadata"].get("source")) for s in history]
    assert [n for n, _ in steps].count(["__start__"]) == 1, steps
    assert [n for n, _ in steps].count(["compute_market_figures"]) == 1, steps
    assert steps.count((["write_brief"], "loop")) == 1, steps
    # One model call died with the replica, one finished the brief: none was repeated for a completed step.
    assert len(llm_double.requests_for(MODEL)) == 2
    killed.start()  # back to two replicas for the tests after this one
    assert await get_client(url=killed.url).threads.get_state(tid)


async def test_router_budget_holds_across_both_replicas(
    replicas: list[AegraServer], llm_double: LLMServerDouble, databases: Databases
) -> None:
    llm_double.set_behaviour(MODEL, Behaviour(answer_words=299, latency_s=0.05))
    a, b = clients(replicas)
    payload = {**example_input("llm_router"), "workflow": "spend-test"}
    outs = await asyncio.gather(*(
        (a if i % 2 == 0 else b).runs.wait(None, "llm_router", input=payload, raise_error=False) for i in range(10)
    ))  # fmt: skip
    answered = [o for o in outs if isinstance(o, dict) and o.get("answered_by")]
    assert 1 <= len(answered) < 10, outs
    assert len(llm_double.requests_for(MODEL)) == len(answered)  # a refused call never reached the model
    ledger = PostgresSpendStore(databases.tradeflow)
    try:
        spent = ledger.spent("spend-test", utc_today())
    finally:
        ledger.close()
    assert 0 < spent <= BUDGET + ONE_CALL


def test_prometheus_scrapes_both_replicas(replicas: list[AegraServer], tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed (Debian package prometheus)")
    targets = [r.url.removeprefix("http://") for r in replicas]
    for replica in replicas:  # each replica has counted a run of its own
        httpx.post(f"{replica.url}/runs/wait", json={"assistant_id": "heartbeat", "input": {"message": "scrape"}},
                   timeout=60).raise_for_status()  # fmt: skip
    config = {"global": {"scrape_interval": "1s"},
              "scrape_configs": [{"job_name": "tradeflow", "static_configs": [{"targets": targets}]}]}  # fmt: skip
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--web.listen-address=127.0.0.1:{port}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}"], stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", timeout=5,
                                 params={"query": 'sum by (instance) (tradeflow_workflow_runs_total{job="tradeflow"})'}).json()  # fmt: skip
                instances = {r["metric"]["instance"] for r in body["data"]["result"]}
                up = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": "up"}, timeout=5).json()
                healthy = {r["metric"]["instance"] for r in up["data"]["result"] if r["value"][1] == "1"}
            except httpx.HTTPError:
                instances, healthy = set(), set()
            if instances >= set(targets) and healthy >= set(targets):
                break
            assert time.monotonic() < deadline, (instances, healthy)
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


async def test_an_approval_paused_through_a_is_listed_and_decided_through_b(
    replicas: list[AegraServer], databases: Databases
) -> None:
    """Four eyes across replicas: the pause is recorded in the shared access tables; B resumes A's thread as its owner."""
    store = KeyStore(AccessDB(databases.tradeflow, Path("unused.sqlite")), 0)
    keys = {who: store.add(who, roles, created_by="test")[1]
            for who, roles in (("dave", ["operator"]), ("bob", ["approver"]))}  # fmt: skip
    try:  # last in this module: with keys stored, requests without one are refused from here on
        dave = get_client(url=replicas[0].url, api_key=keys["dave"])
        thread = (await dave.threads.create())["thread_id"]
        paused = await dave.runs.wait(thread, "trade_break_triage", input=example_input("trade_break_triage"))
        assert isinstance(paused, dict)
        assert paused["__interrupt__"][0]["value"]["requested_by"] == "dave"
        bob = {"x-api-key": keys["bob"]}
        async with httpx.AsyncClient(base_url=replicas[1].url, timeout=120) as b:
            listed = (await b.get("/approvals", headers=bob)).json()["approvals"]
            assert [a["requested_by"] for a in listed if a["thread_id"] == thread] == ["dave"]
            decided = await b.post(f"/approvals/{thread}", json={"decision": "reject", "reason": "wrong SSI"},
                                   headers=bob)  # fmt: skip
        assert decided.status_code == 200, decided.text
        assert (decided.json()["result"]["decision"], decided.json()["result"]["approver"]) == ("rejected", "bob")
        [row] = ApprovalAudit(store.db).decisions(thread_id=thread)
        assert (row.identity, row.requested_by, row.decision, row.reason) == ("bob", "dave", "rejected", "wrong SSI")
        assert (await dave.threads.get_state(thread))["values"]["status"] == "resolution_rejected"
    finally:
        for key in keys.values():
            store.revoke(key)
        store.db.close()
