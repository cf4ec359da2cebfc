"""Published workflows as LangGraph assistants on a real ``langgraph dev``: kept in step, without churn."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from graphs.workflow_assistants import assistant_id
from tests.conftest import model_env
from tests.doubles.llm_server import LLMServerDouble
from tests.support.langgraph_server import DevServer
from tests.support.sdk import get_client
from tests.support.versioning import variant

pytestmark = [pytest.mark.server]
TICK_S = 1


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, llm_server: LLMServerDouble) -> Iterator[DevServer]:
    workdir = tmp_path_factory.mktemp("assistants-server")
    env = {**os.environ, **model_env(llm_server), "TRADEFLOW_DATA_DIR": str(workdir / "data"),
           "TRADEFLOW_GUARDRAIL_INTERVAL_S": str(TICK_S)}  # fmt: skip
    env.pop("DATABASE_URL", None)
    env.pop("TRADEFLOW_API_KEY", None)
    dev = DevServer(workdir, env).start()
    yield dev
    dev.stop()


async def workflow_assistants(url: str) -> dict[str, dict[str, Any]]:
    client = get_client(url=url)
    found = await client.assistants.search(graph_id="versioned_workflow", limit=100)
    listed: dict[str, dict[str, Any]] = {}
    for assistant in found:
        if "tradeflow_workflow" in (assistant.get("metadata") or {}):
            versions = await client.assistants.get_versions(assistant["assistant_id"], limit=100)
            listed[str(assistant["name"])] = {"id": assistant["assistant_id"], "version": assistant["version"],
                                              "updated_at": assistant["updated_at"], "versions": len(versions),
                                              "context": assistant["context"],
                                              "description": assistant["description"]}  # fmt: skip
    return listed


async def test_assistants_are_created_once_and_left_alone_on_later_ticks(server: DevServer) -> None:
    """Broke: every upkeep tick created every workflow's assistant again (a request per workflow per tick, and a
    new assistant version wherever the server does not honour if_exists)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        for workflow in ("market_brief", "trade_break_triage"):
            response = await http.post("/workflows", json={"yaml": variant(workflow, "v1"), "message": "first",
                                                            "author": "jane"})  # fmt: skip
            assert response.status_code == 201, response.text
    async with asyncio.timeout(30):
        while len(first := await workflow_assistants(server.url)) < 2:
            await asyncio.sleep(0.2)
    assert set(first) == {"market_brief", "trade_break_triage"}
    assert first["market_brief"]["id"] == assistant_id("market_brief")
    assert first["market_brief"]["context"] == {"workflow": "market_brief", "label": "production"}
    assert first["market_brief"]["description"].startswith("Morning market brief from a positions snapshot (")
    assert {a["versions"] for a in first.values()} == {1}
    quiet_from = len(server.output())
    await asyncio.sleep(4 * TICK_S)  # several upkeep ticks
    assert await workflow_assistants(server.url) == first
    quiet = server.output()[quiet_from:]
    assert "POST http://api/assistants/search" in quiet  # the ticks ran ...
    assert 'POST http://api/assistants "' not in quiet  # ... and created nothing
    assert "PATCH http://api/assistants/" not in quiet

    changed = variant("market_brief", "v2").replace(
        "description: Morning market brief from a positions snapshot", "description: Morning brief, shorter"
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        response = await http.post("/workflows", json={"yaml": changed, "message": "shorter", "author": "jane"})
        assert response.status_code == 201, response.text
    async with asyncio.timeout(30):  # the server adds the version before it updates the assistant: wait for both
        while not (second := await workflow_assistants(server.url))["market_brief"]["description"].startswith(
            "Morning brief, shorter ("
        ):
            await asyncio.sleep(0.2)
    assert second["market_brief"]["versions"] == 2
    assert second["trade_break_triage"] == first["trade_break_triage"]
    await asyncio.sleep(2 * TICK_S)
    assert await workflow_assistants(server.url) == second
