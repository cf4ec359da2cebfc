"""The router subgraph's state in real checkpointers: plain data, wall-clock deadlines, resumed elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from router.record import DecisionRecord
from tests.conftest import model_env
from tests.doubles.llm_server import LLMServerDouble

REPO = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def _saver(kind: str, tmp_path: Path, postgres_url: str | None) -> AsyncIterator[tuple[Any, str]]:
    if kind == "sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        where = str(tmp_path / "checkpoints.sqlite")
        async with AsyncSqliteSaver.from_conn_string(where) as saver:
            yield saver, where
        return
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    assert postgres_url is not None
    async with AsyncPostgresSaver.from_conn_string(postgres_url) as saver:
        await saver.setup()
        yield saver, postgres_url


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_paused_route_resumes_in_another_process_with_its_wall_clock_deadline(
    kind: str,
    tmp_path: Path,
    llm_double: LLMServerDouble,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """Regression: the state held a monotonic reading (meaningless in another process or after a reboot) and a
    DecisionRecord object that strict checkpoint loading refuses."""
    postgres_url = request.getfixturevalue("postgres_url") if kind == "postgres" else None
    env = model_env(llm_double, "openai")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from router.subgraph import builder

    config: Any = {"configurable": {"thread_id": f"route-{kind}"}}
    async with _saver(kind, tmp_path, postgres_url) as (saver, where):
        graph = builder.compile(checkpointer=saver, interrupt_before=["call_backend"])
        before = time.time()
        await graph.ainvoke({"prompt": "summarise the fails", "workflow": "desk"}, config)
        paused = (await graph.aget_state(config)).values
    assert paused["deadline_at"] == pytest.approx(paused["started_at"] + 30)  # retry.total_budget_s of the table
    assert before - 1 <= paused["started_at"] <= time.time()
    assert isinstance(paused["decision"], dict)
    assert DecisionRecord.model_validate(paused["decision"]).candidates[0].backend == "double-openai"
    resumed = subprocess.run(
        [sys.executable, "-m", "tests.support.resume_router", kind, where, f"route-{kind}"],
        cwd=REPO, env={**os.environ, **env, "LANGGRAPH_STRICT_MSGPACK": "true"}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    out = json.loads(resumed.stdout.splitlines()[-1])
    assert out["answered_by"] == "double-openai"
    decision = DecisionRecord.model_validate(out["decision"])
    assert decision.outcome == "success"
    assert decision.started_at == pytest.approx(paused["started_at"])
    assert decision.total_latency_s >= time.time() - decision.started_at - 60
    assert [a.backend for a in decision.attempts] == ["double-openai"]
