"""A served run with secret-looking keys leaves them nowhere: not in the server's log, the checkpoints (SQLite or
Postgres), the router's decision records, the analytics rows or tradeflow's other tables."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from tests.conftest import model_env
from tests.doubles.llm_server import LLMServerDouble
from tests.support.examples import example_input
from tests.support.postgres import scratch_database
from tests.support.sdk import get_client
from tests.support.secured_server import SERVERS, secured_env

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    with scratch_database("auth_test") as url:
        yield url


def _postgres_rows_with(url: str, needles: list[str]) -> list[str]:
    found = []
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )]  # fmt: skip
        for table in tables:
            for needle in needles:
                query = sql.SQL("SELECT count(*) FROM {} t WHERE strpos(t::text, %s) > 0").format(sql.SQL(table))
                row = conn.execute(query, (needle,)).fetchone()
                if row and row[0]:
                    found.append(f"{table}: {row[0]} rows")
    return found


async def test_secrets_are_not_in_logs_checkpoints_decisions_or_analytics(
    tmp_path: Path, llm_double: LLMServerDouble, database_url: str | None
) -> None:
    openai_key = "sk-proj-" + secrets.token_urlsafe(24)
    env = {**secured_env(tmp_path, model_env(llm_double), database_url), "OPENAI_API_KEY": openai_key}
    server = SERVERS["langgraph-dev"](tmp_path, env)
    try:
        alice = get_client(url=server.url, api_key=server.keys["alice"])
        brief = await alice.runs.wait(None, "market_brief", input=example_input("market_brief"))
        assert isinstance(brief, dict)
        assert brief["brief"]
        thread = (await alice.threads.create())["thread_id"]
        await alice.runs.wait(thread, "trade_break_triage", input=example_input("trade_break_triage"))
        bob = get_client(url=server.url, api_key=server.keys["bob"])
        done = await bob.runs.wait(thread, "trade_break_triage", command={"resume": {"approved": True}})
        assert isinstance(done, dict)
        assert done["approver"] == "bob"
        routed = await alice.runs.wait(None, "llm_router", input={"prompt": "hello"})
        assert isinstance(routed, dict)
        async with httpx.AsyncClient(base_url=server.url, headers={"x-api-key": server.keys["vic"]}) as http:
            backends = (await http.get("/router/backends")).text
            metrics = (await http.get("/metrics")).text
            report = (await http.get("/reports/cost", params={"since": "1d"})).text
    finally:
        server.stop()
    assert any(r.authorization == f"Bearer {openai_key}" for r in llm_double.requests)  # the key was used...
    keys = [openai_key, *server.keys.values()]
    for key in keys:  # ...and is nowhere else
        for where, text in {"log": server.output(), "backends": backends, "metrics": metrics, "report": report}.items():
            assert key not in text, where
    leaks = [
        str(path.relative_to(tmp_path))
        for path in (tmp_path / "data").rglob("*")
        if path.is_file() and any(key.encode() in path.read_bytes() for key in keys)
    ]
    assert leaks == []
    if database_url is None:  # what was scanned holds the runs
        scanned = {path.name for path in (tmp_path / "data").rglob("*.sqlite")}
        assert {"checkpoints.sqlite", "analytics.sqlite", "access.sqlite"} <= scanned, scanned
    if database_url is not None:
        assert _postgres_rows_with(database_url, keys) == []
        with psycopg.connect(database_url) as conn:  # what was scanned holds the runs
            assert conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0] > 0  # type: ignore[index]
            assert conn.execute("SELECT count(*) FROM tradeflow_approval_audit").fetchone()[0] == 1  # type: ignore[index]
