"""RoutedChatModel as a LangChain chat model, the llm_router subgraph in-process, budgets and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import HumanMessage
from langchain_core.outputs import LLMResult
from pydantic import BaseModel, ConfigDict

from router.chat_model import RoutedChatModel
from router.config import parse_config
from router.engine import Router
from router.errors import BudgetExceededError, NoEligibleBackendError
from tests.conftest import MODEL, model_env
from tests.doubles.llm_server import Behaviour, LLMServerDouble
from tests.support.prices import price_table

TRADEFLOW = str(Path(sys.executable).parent / "tradeflow")
PRICES = price_table({MODEL: (1.0, 2.0), "slow-model": (0.1, 0.2)})


def _router(double: LLMServerDouble, **overrides: Any) -> Router:
    table = {
        "backends": [
            {"name": "openai-double", "kind": "openai", "model": MODEL, "base_url": double.openai_base_url,
             "context_window": 16000, "max_output_tokens": 2048, "capabilities": ["json"]},
            {"name": "ollama-double", "kind": "ollama", "model": "slow-model", "base_url": double.ollama_base_url,
             "context_window": 16000, "max_output_tokens": 2048, "capabilities": []},
        ],
        "default_strategy": "cost",
        **overrides,
    }  # fmt: skip
    return Router(parse_config(table, "test"), env={}, prices=PRICES)


class Verdict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    confidence: float


class Recorder(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.results: list[LLMResult] = []
        self.tokens: list[str] = []

    async def on_llm_new_token(self, token: str, *, run_id: UUID, **kwargs: Any) -> None:
        self.tokens.append(token)

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        self.results.append(response)


async def test_invoke_attaches_the_decision_for_callbacks(llm_double: LLMServerDouble) -> None:
    recorder = Recorder()
    chat = RoutedChatModel(router=_router(llm_double), workflow="desk-a")
    reply = await chat.ainvoke([HumanMessage("hello")], config={"callbacks": [recorder]})
    assert reply.response_metadata["router_backend"] == "ollama-double"  # cheapest
    assert reply.response_metadata["model_name"] == "slow-model"
    [result] = recorder.results
    decision = result.llm_output["router_decision"].model_dump(mode="json")  # type: ignore[index]
    assert decision["workflow"] == "desk-a"
    assert decision["answered_by"] == "ollama-double"
    assert decision["attempts"][0]["usage"]["provenance"] == "provider"
    assert "hello" not in json.dumps(decision)  # no prompt text unless log_prompts is on


async def test_stream_passes_tokens_through(llm_double: LLMServerDouble) -> None:
    recorder = Recorder()
    chat = RoutedChatModel(router=_router(llm_double), workflow="desk-a", strategy="performance")
    chunks = [c async for c in chat.astream([HumanMessage("stream it")], config={"callbacks": [recorder]})]
    text = "".join(str(c.content) for c in chunks)
    assert len(chunks) > 10
    assert text == (await chat.ainvoke([HumanMessage("stream it")])).text
    assert "".join(recorder.tokens) == text
    info = recorder.results[0].generations[0][0].generation_info or {}
    assert info["router_decision"].outcome == "success"


async def test_structured_output_goes_only_to_json_capable_backends(llm_double: LLMServerDouble) -> None:
    chat = RoutedChatModel(router=_router(llm_double), workflow="desk-a")
    verdict = await chat.with_structured_output(Verdict).ainvoke([HumanMessage("rate it")])
    assert isinstance(verdict, Verdict)
    assert [r.model for r in llm_double.requests] == [MODEL]  # the cheaper backend lacks `json`


async def test_budget_limits_spend_per_workflow(llm_double: LLMServerDouble) -> None:
    llm_double.set_behaviour("slow-model", Behaviour(answer_words=300))  # answers as long as expected
    router = _router(llm_double, budgets_usd_per_day={"tight": 0.0001})
    chat = RoutedChatModel(router=router, workflow="tight")
    await chat.ainvoke([HumanMessage("first call fits")])
    with pytest.raises(BudgetExceededError, match="workflow 'tight' has spent"):
        await chat.ainvoke([HumanMessage("second call does not")])
    other = RoutedChatModel(router=router, workflow="roomy")
    assert (await other.ainvoke([HumanMessage("other workflows are unaffected")])).text


async def test_no_eligible_backend_says_why(llm_double: LLMServerDouble) -> None:
    chat = RoutedChatModel(router=_router(llm_double), required_capabilities=frozenset({"vision"}))
    with pytest.raises(NoEligibleBackendError, match=r"openai-double: lacks capabilities \['vision'\]"):
        await chat.ainvoke([HumanMessage("look at this")])


async def test_subgraph_shows_every_attempt_in_state(
    llm_double: LLMServerDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in model_env(llm_double, "auto").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TRADEFLOW_OLLAMA_MODEL", "broken-model")
    llm_double.set_behaviour("broken-model", Behaviour(fault="status", status=500))
    from langgraph.checkpoint.memory import InMemorySaver

    from router.subgraph import builder

    graph = builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "route-1"}}
    out = await graph.ainvoke({"prompt": "summarise", "strategy": "cost"}, config)
    assert [(a["backend"], a["outcome"]) for a in out["attempts"]] == [
        ("double-ollama", "failed"), ("double-ollama", "failed"), ("double-openai", "success"),
    ]  # fmt: skip
    assert out["answered_by"] == "double-openai"
    assert out["answer"].startswith(f"[{MODEL}:")
    assert out["decision"]["fallback_chain"] == ["double-ollama", "double-openai"]
    steps = [s.next for s in graph.get_state_history(config)]
    assert steps.count(("call_backend",)) == 3


def test_cli_route_prints_answer_and_decision(llm_double: LLMServerDouble, tmp_path: Path) -> None:
    env = {**os.environ, **model_env(llm_double, "auto"), "TRADEFLOW_DATA_DIR": str(tmp_path)}
    proc = subprocess.run(
        [TRADEFLOW, "route", "Summarise the fails", "--strategy", "cost", "--task-type", "summary"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    answer, _, decision_text = proc.stdout.partition("\n\n")
    decision = json.loads(decision_text)
    assert answer.startswith(f"[{MODEL}:")
    assert decision["strategy"] == "cost"
    assert decision["task_type"] == "summary"
    assert decision["answered_by"] == "double-ollama"


def test_cli_backends_shows_health_and_breaker(llm_double: LLMServerDouble, tmp_path: Path) -> None:
    env = {**os.environ, **model_env(llm_double, "auto"), "OLLAMA_BASE_URL": "http://127.0.0.1:9"}
    proc = subprocess.run([TRADEFLOW, "backends"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[1:]}
    assert " up " in rows["double-openai"]
    assert " closed " in rows["double-openai"]
    assert " down " in rows["double-ollama"]
    assert "ConnectError" in rows["double-ollama"]


async def test_background_probes_open_the_breaker_of_a_dead_backend(llm_double: LLMServerDouble) -> None:
    import asyncio

    from router.probes import probe_forever

    table = {
        "breaker": {"failure_threshold": 3, "open_s": 30, "max_open_s": 60},
        "backends": [
            {"name": "alive", "kind": "openai", "model": MODEL, "base_url": llm_double.openai_base_url,
             "context_window": 16000, "max_output_tokens": 2048},
            {"name": "dead", "kind": "ollama", "model": "m", "base_url": "http://127.0.0.1:9",
             "context_window": 16000, "max_output_tokens": 2048},
        ],
    }  # fmt: skip
    router = Router(parse_config(table, "test"), env={}, prices=price_table({MODEL: 1.0, "m": 0.0}))
    task = asyncio.create_task(probe_forever(router, interval_s=0.05))
    for _ in range(200):  # a refused connection can take ~0.5 s on a busy machine: poll, bounded
        if str(router.health.breakers["dead"].state) == "open":
            break
        await asyncio.sleep(0.05)
    task.cancel()
    assert str(router.health.breakers["dead"].state) == "open"
    assert str(router.health.breakers["alive"].state) == "closed"
    assert len(llm_double.requests) == 0  # probes spend no tokens
    reply = await RoutedChatModel(router=router, strategy="cost").ainvoke([HumanMessage("hi")])
    assert reply.response_metadata["router_backend"] == "alive"  # the cheaper dead one is skipped
