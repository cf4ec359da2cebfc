"""Each trading graph end to end, in-process, through both real clients and every checkpointer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from core.persistence import open_async_checkpointer
from core.settings import settings_from_mapping
from graphs.eod_reconciliation.context import ReconciliationContext
from graphs.errors import LLMUnavailableError
from graphs.registry import load_builder, validate_input
from graphs.trade_break_triage.context import TriageContext
from graphs.workflows import repo_workflow
from tests.conftest import MODEL
from tests.doubles.llm_server import Behaviour, LLMServerDouble
from tests.support.examples import example_input

REPO = Path(__file__).resolve().parents[2]


def example(graph_id: str) -> dict[str, Any]:
    return validate_input(graph_id, example_input(graph_id))


@asynccontextmanager
async def saver_for(backend: str, tmp_path: Path, postgres_url: str | None) -> AsyncIterator[BaseCheckpointSaver[str]]:
    if backend == "memory":
        yield InMemorySaver()
        return
    env = {"TRADEFLOW_DATA_DIR": str(tmp_path)}
    if backend == "postgres":
        assert postgres_url
        env["DATABASE_URL"] = postgres_url
    async with open_async_checkpointer(settings_from_mapping(env)) as saver:
        yield saver


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def pg_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    return str(request.getfixturevalue("postgres_url")) if backend == "postgres" else None


def _config(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


async def test_market_brief_returns_figures_and_brief(provider: str, llm_double: LLMServerDouble) -> None:
    graph = load_builder("market_brief").compile(checkpointer=InMemorySaver())
    out = await graph.ainvoke(example("market_brief"), _config("mb"))
    assert set(out) == {"figures", "brief"}
    assert out["figures"]["total_pnl"] == pytest.approx(93514.5)
    assert out["brief"].startswith(f"[{MODEL}:")
    [request] = llm_double.requests
    assert request.api == provider
    assert '"total_pnl": 93514.5' in request.prompt  # the brief is written from the computed figures


async def test_triage_pauses_above_threshold_and_records_the_approver(
    backend: str, pg_url: str | None, tmp_path: Path, provider: str, llm_double: LLMServerDouble
) -> None:
    async with saver_for(backend, tmp_path, pg_url) as saver:
        graph = load_builder("trade_break_triage").compile(checkpointer=saver)
        config = _config(f"triage-{backend}-{provider}")
        out = await graph.ainvoke(example("trade_break_triage"), config, context=TriageContext())
        [pending] = out["__interrupt__"]
        assert pending.value["break_id"] == "BRK-2026-11-24-0042"
        assert pending.value["threshold"] == 1_000_000
        state = await graph.aget_state(config)
        assert state.next == ("request_approval",)
        categories = repo_workflow("trade_break_triage")[0].spec.steps[0].answer.fields["category"].enum
        assert state.values["assessment"]["category"] in categories
        final = await graph.ainvoke(
            Command(resume={"approved": False, "comment": "call the counterparty first"}), config
        )
    assert final["decision"] == "rejected"
    assert final["approver"] == "local"  # an in-process run: the local caller, never a name from the payload
    assert final["approval_comment"] == "call the counterparty first"
    assert final["status"] == "resolution_rejected"
    assert len(llm_double.requests) == 2  # classify + propose, neither re-run on resume


async def test_triage_below_threshold_is_auto_approved(provider: str) -> None:
    graph = load_builder("trade_break_triage").compile(checkpointer=InMemorySaver())
    out = await graph.ainvoke(
        example("trade_break_triage"), _config("small"), context=TriageContext(approval_threshold=50_000_000)
    )
    assert "__interrupt__" not in out
    assert (out["decision"], out["approver"], out["status"]) == ("auto_approved", "system", "resolution_approved")


async def test_triage_bad_resume_asks_again_naming_the_field(provider: str) -> None:
    graph = load_builder("trade_break_triage").compile(checkpointer=InMemorySaver())
    config = _config("bad-resume")
    await graph.ainvoke(example("trade_break_triage"), config)
    again = await graph.ainvoke(Command(resume={"approved": "yes"}), config)
    [pending] = again["__interrupt__"]
    assert "resume.approved" in pending.value["problem"]
    assert (await graph.aget_state(config)).next == ("request_approval",)
    named = await graph.ainvoke(Command(resume={"approved": True, "approver": "a.n"}), config)
    assert (
        "resume.approver: names 'a.n' but the request is authenticated as 'local'"
        in named["__interrupt__"][0].value["problem"]
    )
    final = await graph.ainvoke(Command(resume={"approved": True}), config)
    assert final["decision"] == "approved"


async def test_reconciliation_fans_out_one_call_per_mismatch_and_ranks(
    backend: str, pg_url: str | None, tmp_path: Path, provider: str, llm_double: LLMServerDouble
) -> None:
    async with saver_for(backend, tmp_path, pg_url) as saver:
        graph = load_builder("eod_reconciliation").compile(checkpointer=saver)
        out = await graph.ainvoke(
            example("eod_reconciliation"), _config(f"recon-{backend}-{provider}"), context=ReconciliationContext()
        )
    assert [(m["account"], m["symbol"]) for m in out["mismatches"]] == [
        ("PB-001", "MSFT"),
        ("PB-001", "TSLA"),
        ("PB-002", "GOOGL"),
    ]
    assert len(llm_double.requests) == 3  # one explanation per mismatch
    scores = [item["risk_score"] for item in out["ranked"]]
    assert scores == sorted(scores, reverse=True)
    assert {item["mismatch"]["symbol"] for item in out["ranked"]} == {"MSFT", "TSLA", "GOOGL"}


async def test_reconciliation_with_matching_books_calls_no_model(provider: str, llm_double: LLMServerDouble) -> None:
    payload = example("eod_reconciliation")
    payload["custodian_positions"] = [dict(h) for h in payload["book_positions"]]
    out = await load_builder("eod_reconciliation").compile().ainvoke(payload)
    assert out == {"mismatches": [], "ranked": []}
    assert llm_double.requests == []


async def test_unreachable_model_fails_fast_naming_what_was_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEFLOW_LLM_PROVIDER", "ollama")
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("TRADEFLOW_OLLAMA_MODEL", "llama3.1")
    with pytest.raises(LLMUnavailableError) as info:
        await asyncio.wait_for(load_builder("market_brief").compile().ainvoke(example("market_brief")), timeout=30)
    message = str(info.value)
    assert message.count("connect_refused") == 1  # one refused connection: no retry, no first-token wait
    assert "ollama model 'llama3.1' at http://127.0.0.1:9" in message
    assert "OPENAI_API_KEY" in message
    assert "OLLAMA_BASE_URL" in message


async def test_model_errors_are_reported_with_the_target(provider: str, llm_double: LLMServerDouble) -> None:
    llm_double.set_behaviour(MODEL, Behaviour(fault="status", status=500))
    with pytest.raises(LLMUnavailableError, match=f"{provider} model '{MODEL}'"):
        await load_builder("market_brief").compile().ainvoke(example("market_brief"))
