"""Shadow runs never cost the served run anything: not its time, not its outcome, and not its life.

The challenger is held in the LLM double (a long latency on its own model, behind a backend table whose
timeouts outlast it), so it is still running at the moments the tests look.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from langgraph.checkpoint.memory import InMemorySaver

from graphs.versioning_service import VersioningService
from tests.conftest import ROUTER_DOUBLE, model_env
from tests.doubles.llm_server import Behaviour, LLMServerDouble
from tests.support.examples import example_input
from tests.support.versioning import make_service, variant
from versioning import shadow
from versioning.subgraph import versioned_builder

SERVED, CHALLENGER = "test-model", "slow-model"
LIVENESS_S = 20.0
"""Upper bound for things that take well under a second; only there so a regression fails instead of hanging."""


@pytest.fixture
def double(llm_double: LLMServerDouble, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LLMServerDouble:
    table = yaml.safe_load(ROUTER_DOUBLE.read_text())
    table["timeouts"] = {"connect_s": 2, "first_token_s": 120, "stream_idle_s": 120}
    table["retry"] = {"max_attempts": 1, "total_budget_s": 120, "backoff_base_s": 0.05, "backoff_max_s": 1}
    (tmp_path / "router.yaml").write_text(yaml.safe_dump(table))
    for key, value in model_env(llm_double, "openai").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TRADEFLOW_ROUTER_CONFIG", str(tmp_path / "router.yaml"))
    monkeypatch.setenv("TRADEFLOW_OLLAMA_MODEL", CHALLENGER)  # the challenger's backend answers as its own model
    monkeypatch.setenv("TRADEFLOW_LLM_PROVIDER", "auto")  # both backends of the table
    return llm_double


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[VersioningService]:
    built = make_service(tmp_path)
    yield built
    built.close()


def pinned(marker: str, backend: str) -> str:
    return variant("market_brief", marker).replace(
        "task_type: summary", f"task_type: summary\n      backend: {backend}"
    )


def experiment_with_shadow(svc: VersioningService, challenger_backend: str = "double-ollama") -> None:
    svc.publish(text=pinned("served", "double-openai"), message="served", author="jane")
    svc.publish(text=pinned("challenger", challenger_backend), message="challenger", author="jane")
    svc.labels.move("market_brief", "production", 1, actor="jane")
    arms = [{"name": "control", "version": 1, "weight": 1.0}]
    svc.experiments.start("market_brief", arms, actor="jane", name="shadow-ab", shadow=2)


def graph(svc: VersioningService) -> Any:
    return versioned_builder(lambda: svc.resolver).compile(checkpointer=InMemorySaver())


def run_input(desk: str = "rates") -> dict[str, Any]:
    return {"workflow": "market_brief", "unit_key": desk, "input": example_input("market_brief")}


async def until(check: Any, what: str) -> None:
    async with asyncio.timeout(LIVENESS_S):
        while not check():
            await asyncio.sleep(0.02)


@pytest.fixture(autouse=True)
async def shadows_before() -> Any:
    """Shadow outcomes counted before the test; every shadow the test left running is cancelled after it."""
    counted = dict(shadow.outcomes)
    yield counted
    await shadow.cancel_all()


async def test_the_served_run_returns_while_its_shadow_is_still_running(
    svc: VersioningService, double: LLMServerDouble
) -> None:
    """Broke: `record` waited up to 30 s for the shadow, so a slow challenger slowed every served run."""
    double.set_behaviour(CHALLENGER, Behaviour(latency_s=60))
    experiment_with_shadow(svc)
    async with asyncio.timeout(LIVENESS_S):
        out = await graph(svc).ainvoke(run_input(), {"configurable": {"thread_id": "t1"}})
    assert (out["version"], out["arm"]) == (1, "control")
    [held] = [task for task in shadow._TASKS.values() if not task.done()]
    # On a loaded machine the served run can return before its shadow has even sent its model call: wait for it.
    await until(lambda: len(double.requests_for(CHALLENGER)) == 1, "the challenger's model call")
    assert not held.done()
    await shadow.cancel_all()
    assert held.cancelled()


async def test_cancelling_the_served_run_cancels_its_shadow(svc: VersioningService, double: LLMServerDouble) -> None:
    """Broke: a cancelled served run left its shadow running (and spending) on its own."""
    double.set_behaviour(SERVED, Behaviour(latency_s=60))
    double.set_behaviour(CHALLENGER, Behaviour(latency_s=60))
    experiment_with_shadow(svc)
    served = asyncio.create_task(graph(svc).ainvoke(run_input(), {"configurable": {"thread_id": "t2"}}))
    await until(lambda: double.requests_for(SERVED) and double.requests_for(CHALLENGER), "both model calls")
    [held] = list(shadow._TASKS.values())
    served.cancel()
    with pytest.raises(asyncio.CancelledError):
        await served
    await until(held.done, "the shadow to end")
    assert held.cancelled()


async def test_a_failing_shadow_never_fails_the_served_run(
    svc: VersioningService, double: LLMServerDouble, shadows_before: dict[str, int]
) -> None:
    experiment_with_shadow(svc, challenger_backend="gone")
    out = await graph(svc).ainvoke(run_input(), {"configurable": {"thread_id": "t3"}})
    assert out["output"]["figures"]["total_pnl"] == pytest.approx(93514.5)
    await shadow.wait_all()
    assert shadow.outcomes["failed"] == shadows_before.get("failed", 0) + 1


async def test_shadows_are_bounded_in_time_and_in_number(
    svc: VersioningService, double: LLMServerDouble, monkeypatch: pytest.MonkeyPatch, shadows_before: dict[str, int]
) -> None:
    double.set_behaviour(CHALLENGER, Behaviour(latency_s=60))
    experiment_with_shadow(svc)
    monkeypatch.setattr(shadow, "MAX_RUNNING", 1)
    compiled = graph(svc)
    await compiled.ainvoke(run_input("rates"), {"configurable": {"thread_id": "t4"}})
    await compiled.ainvoke(run_input("credit"), {"configurable": {"thread_id": "t5"}})  # one shadow already runs
    assert shadow.outcomes["skipped"] == shadows_before.get("skipped", 0) + 1
    await shadow.cancel_all()
    monkeypatch.setattr(shadow, "TIMEOUT_S", 0.5)
    await compiled.ainvoke(run_input("fx"), {"configurable": {"thread_id": "t6"}})
    await until(lambda: not shadow._TASKS, "the shadow's own timeout")
    assert shadow.outcomes["timed_out"] == shadows_before.get("timed_out", 0) + 1
