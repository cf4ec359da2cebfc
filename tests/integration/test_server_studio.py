"""The endpoints LangGraph Studio uses, against a real ``langgraph dev`` driven with langgraph-sdk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from graphs.registry import GRAPHS
from tests.conftest import MODEL, model_env
from tests.doubles.llm_server import Behaviour, LLMServerDouble
from tests.support.examples import example_input
from tests.support.langgraph_server import DevServer, start_with_double
from tests.support.sdk import get_client

pytestmark = [pytest.mark.server]

REPO = Path(__file__).resolve().parents[2]
GRAPH_IDS = {
    "market_brief",
    "trade_break_triage",
    "eod_reconciliation",
    "heartbeat",
    "llm_router",
    "versioned_workflow",
}


def refused_with(error: httpx.HTTPStatusError, *fragments: str) -> None:
    """The SDK raised for a 422 whose detail names each fragment (runs.wait raises plain httpx errors)."""
    assert error.response.status_code == 422
    detail = error.response.json()["detail"]
    for fragment in fragments:
        assert fragment in detail


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, llm_server: LLMServerDouble) -> Iterator[DevServer]:
    dev = start_with_double(tmp_path_factory.mktemp("studio"), model_env(llm_server))
    yield dev
    dev.stop()


@pytest.fixture
def client(server: DevServer) -> LangGraphClient:
    return get_client(url=server.url)


async def test_every_graph_is_found_by_assistant_search(client: LangGraphClient) -> None:
    assistants = await client.assistants.search(limit=50)
    assert {a["graph_id"] for a in assistants} == GRAPH_IDS


async def test_xray_graph_shows_subgraph_nodes(client: LangGraphClient) -> None:
    drawn = await client.assistants.get_graph("eod_reconciliation", xray=True)
    ids = {node["id"] for node in drawn["nodes"]}
    # the fan-out's branch, and inside its model step the llm_router subgraph
    assert {"explain_mismatch:draft_explanation:rank_backends", "explain_mismatch:draft_explanation:call_backend",
            "explain_mismatch:score_risk", "match_positions"} <= ids  # fmt: skip
    flat = await client.assistants.get_graph("eod_reconciliation")
    assert "explain_mismatch:score_risk" not in {node["id"] for node in flat["nodes"]}


async def test_schemas_carry_field_descriptions(client: LangGraphClient) -> None:
    schemas = await client.assistants.get_schemas(GRAPHS["trade_break_triage"].default_assistant_id)
    input_schema = schemas["input_schema"]
    assert input_schema is not None
    assert schemas["state_schema"] is not None
    trade_break = input_schema["$defs"]["TradeBreak"]["properties"]
    assert trade_break["notional"]["description"] == "Trade notional, in ``currency``."
    context = schemas["context_schema"]
    assert context is not None
    assert "human must approve" in context["properties"]["approval_threshold"]["description"]
    assert "decision" in schemas["state_schema"]["properties"]


async def test_interrupt_before_a_node_then_resume(client: LangGraphClient, llm_double: LLMServerDouble) -> None:
    thread = await client.threads.create()
    await client.runs.wait(
        thread["thread_id"], "market_brief", input=example_input("market_brief"), interrupt_before=["write_brief"]
    )
    state = await client.threads.get_state(thread["thread_id"])
    assert state["next"] == ["write_brief"]
    assert "figures" in state["values"]
    assert "brief" not in state["values"]
    assert llm_double.requests == []
    final = await client.runs.wait(thread["thread_id"], "market_brief", input=None)
    assert isinstance(final, dict)
    assert final["brief"].startswith(f"[{MODEL}:")
    assert (await client.threads.get_state(thread["thread_id"]))["next"] == []


async def test_history_and_forking_from_an_earlier_checkpoint(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "market_brief", input=example_input("market_brief"))
    history = await client.threads.get_history(tid, limit=20)
    assert len(history) >= 3
    before_brief = next(s for s in history if s["next"] == ["write_brief"])
    fork = await client.threads.update_state(
        tid,
        {"as_of": "2026-11-25"},
        as_node="compute_market_figures",
        checkpoint_id=before_brief["checkpoint"]["checkpoint_id"],
    )
    forked_state = await client.threads.get_state(tid, checkpoint_id=fork["checkpoint"]["checkpoint_id"])
    assert forked_state["parent_checkpoint"]["checkpoint_id"] == before_brief["checkpoint"]["checkpoint_id"]
    assert forked_state["values"]["as_of"] == "2026-11-25"
    assert forked_state["next"] == ["write_brief"]
    final = await client.runs.wait(tid, "market_brief", input=None, checkpoint_id=fork["checkpoint"]["checkpoint_id"])
    assert isinstance(final, dict)
    assert final["brief"]
    latest = await client.threads.get_state(tid)
    assert latest["values"]["as_of"] == "2026-11-25"
    # the original branch is still in the history
    history = await client.threads.get_history(tid, limit=50)
    assert any(s["values"].get("as_of") == "2026-11-24" and "brief" in s["values"] for s in history)


async def test_stream_modes_deliver_events(client: LangGraphClient) -> None:
    """Model steps run the llm_router subgraph: its rank/call/account progress streams with subgraphs=True.

    (The router calls backends without a chat-model run, so "messages" carries no model tokens.)
    """
    events: dict[str, list[Any]] = {}
    async for part in client.runs.stream(
        None,
        "market_brief",
        input=example_input("market_brief"),
        stream_mode=["values", "updates", "debug"],
        stream_subgraphs=True,
    ):
        events.setdefault(part.event.split("|")[0], []).append(part.data)
    assert {"values", "updates", "debug"} <= set(events)
    assert any("compute_market_figures" in update for update in events["updates"])
    router_steps = {name for update in events["updates"] for name in update}
    assert {"rank_backends", "call_backend", "account"} <= router_steps
    final = [v for v in events["values"] if "brief" in v][-1]
    assert final["brief"].startswith(f"[{MODEL}:")


async def test_triage_approval_over_the_api(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    paused = await client.runs.wait(tid, "trade_break_triage", input=example_input("trade_break_triage"))
    assert isinstance(paused, dict)
    [interrupt] = paused["__interrupt__"]
    assert interrupt["value"]["break_id"] == "BRK-2026-11-24-0042"
    state = await client.threads.get_state(tid)
    assert state["next"] == ["request_approval"]
    with pytest.raises(httpx.HTTPStatusError) as info:
        await client.runs.wait(tid, "trade_break_triage", command={"resume": {"approved": "yes", "approver": ""}})
    refused_with(info.value, "resume.approved", "resume.approver")
    final = await client.runs.wait(tid, "trade_break_triage", command={"resume": {"approved": True, "comment": "ok"}})
    assert isinstance(final, dict)
    # no key configured (a laptop): the caller is `local`, and four eyes cannot apply to one person
    assert (final["decision"], final["approver"], final["status"]) == ("approved", "local", "resolution_approved")


@pytest.mark.parametrize("graph_id", ["eod_reconciliation", "heartbeat"])
async def test_graphs_run_end_to_end_over_the_sdk(client: LangGraphClient, graph_id: str) -> None:
    out = await client.runs.wait(None, graph_id, input=example_input(graph_id))
    assert isinstance(out, dict)
    if graph_id == "eod_reconciliation":
        assert len(out["ranked"]) == 3
    else:
        assert out["message"] == "ping"
        assert out["handled_at"]


async def test_bad_input_is_refused_naming_the_field_and_leaves_no_checkpoint(
    client: LangGraphClient, llm_double: LLMServerDouble
) -> None:
    thread = await client.threads.create()
    payload = example_input("eod_reconciliation")
    payload["book_positions"][2]["quantity"] = "nine hundred"
    with pytest.raises(httpx.HTTPStatusError) as info:
        await client.runs.create(thread["thread_id"], "eod_reconciliation", input=payload)
    refused_with(info.value, "book_positions.2.quantity: Input should be a valid number")
    assert await client.threads.get_history(thread["thread_id"]) == []
    assert (await client.threads.get_state(thread["thread_id"]))["values"] == {}
    assert await client.runs.list(thread["thread_id"]) == []
    assert llm_double.requests == []


async def test_assistants_created_through_the_api_are_validated_too(client: LangGraphClient) -> None:
    assistant = await client.assistants.create("heartbeat", name="probe", context={})
    with pytest.raises(httpx.HTTPStatusError) as info:
        await client.runs.wait(None, assistant["assistant_id"], input={"message": 1})
    refused_with(info.value, "graph 'heartbeat'", "message: Input should be a valid string")
    out = await client.runs.wait(None, assistant["assistant_id"], input={"message": "ok"})
    assert isinstance(out, dict)
    assert out["message"] == "ok"


async def test_studio_scheme_header_does_not_skip_validation(server: DevServer) -> None:
    """Requests marked x-auth-scheme: langsmith (as Studio sends) get the same input checks."""
    client = get_client(url=server.url, headers={"x-auth-scheme": "langsmith"})
    with pytest.raises(httpx.HTTPStatusError) as info:
        await client.runs.wait(None, "heartbeat", input={"message": ["not", "text"]})
    refused_with(info.value, "message: Input should be a valid string")


async def test_router_subgraph_run_shows_attempts_in_state(client: LangGraphClient, server: DevServer) -> None:
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "llm_router", input=example_input("llm_router"))
    state = await client.threads.get_state(thread["thread_id"])
    values = state["values"]
    assert values["answered_by"] == "double-openai"
    assert [(a["backend"], a["outcome"]) for a in values["attempts"]] == [("double-openai", "success")]
    assert values["decision"]["strategy"] == "cost"
    assert values["excluded"]["double-ollama"] == "TRADEFLOW_LLM_PROVIDER=openai"
    history = await client.threads.get_history(thread["thread_id"])
    assert ["call_backend"] in [s["next"] for s in history]
    async with httpx.AsyncClient(timeout=5) as http:
        live = (await http.get(f"{server.url}/router/backends")).json()
    measured = {row["backend"]: row for row in live}
    assert measured["double-openai"]["samples"] >= 1
    assert measured["double-ollama"]["enabled"] is False


async def test_a_failed_run_tells_the_client_what_was_tried(
    client: LangGraphClient, llm_double: LLMServerDouble
) -> None:
    """Regression: SDK clients saw only 'LLMUnavailableError: An internal error occurred' (the server hides the
    message of error types it does not trust); the backends tried and their errors were only in the server log."""
    llm_double.set_behaviour(MODEL, Behaviour(fault="status", status=503))
    thread = await client.threads.create()
    waited = await client.runs.wait(
        thread["thread_id"], "market_brief", input=example_input("market_brief"), raise_error=False
    )
    assert isinstance(waited, dict)
    assert waited["__error__"]["error"] == "LLMUnavailableError"
    text = waited["__error__"]["message"]
    assert text.startswith("LLM call failed: every backend failed"), text
    assert "double-openai" in text
    assert "server_error: HTTP 503" in text
    assert "test-key-for-double" not in text
    run = (await client.runs.list(thread["thread_id"]))[0]
    assert run["status"] == "error"
    joined = await client.runs.join(thread["thread_id"], run["run_id"])
    assert joined["__error__"]["error"] == "LLMUnavailableError"
    assert "server_error: HTTP 503" in joined["__error__"]["message"]
    got = await client.threads.get(thread["thread_id"])
    assert got["status"] == "error"
    assert got["error"]["error"] == "LLMUnavailableError"
    assert "server_error: HTTP 503" in got["error"]["message"]


async def test_bad_context_is_refused_naming_the_knob_before_a_run_exists(
    client: LangGraphClient, llm_double: LLMServerDouble
) -> None:
    """Regression: context={"approval_threshold": "abc"} passed the door and the run died mid-way with a TypeError."""
    thread = await client.threads.create()
    for context, fragment in (
        ({"approval_threshold": "abc"}, "context.approval_threshold: Input should be a valid number"),
        ({"backend": "no-such"}, "context.backend: unknown backend 'no-such'; the backend table has: double-ollama"),
        ({"threshold": 5}, "context.threshold: unknown knob"),
    ):
        with pytest.raises(httpx.HTTPStatusError) as info:
            await client.runs.create(
                thread["thread_id"], "trade_break_triage", input=example_input("trade_break_triage"), context=context
            )
        refused_with(info.value, fragment)
    assert await client.runs.list(thread["thread_id"]) == []
    assert llm_double.requests == []
    with pytest.raises(httpx.HTTPStatusError) as info:
        await client.assistants.create("trade_break_triage", context={"approval_threshold": "abc"})
    refused_with(info.value, "context.approval_threshold")
    assistant = await client.assistants.create("trade_break_triage", context={"approval_threshold": 10.0})
    with pytest.raises(httpx.HTTPStatusError) as info:
        await client.assistants.update(assistant["assistant_id"], context={"strategy": "cheapest"})
    refused_with(info.value, "context.strategy")


async def test_market_brief_refuses_a_bad_date_and_an_empty_snapshot(client: LangGraphClient) -> None:
    with pytest.raises(httpx.HTTPStatusError) as info:
        await client.runs.wait(None, "market_brief", input={"as_of": "not-a-date", "positions": []})
    refused_with(info.value, "as_of: expected an ISO date or timestamp", "positions: List should have at least 1 item")


async def test_state_updates_that_do_not_fit_the_schema_are_refused(client: LangGraphClient) -> None:
    """Regression: update_state({"figures": 42}) was checkpointed and the next run died with a TypeError."""
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "heartbeat", input={"message": "ok"})
    before = await client.threads.get_history(thread["thread_id"])
    for values, fragment in (({"message": 42}, "values.message: Input should be a valid string"),
                             ({"figures": 42}, "values.figures: unknown state key")):  # fmt: skip
        with pytest.raises(httpx.HTTPStatusError) as info:
            await client.threads.update_state(thread["thread_id"], values)
        assert info.value.response.status_code == 400
        assert fragment in info.value.response.json()["detail"]
    assert len(await client.threads.get_history(thread["thread_id"])) == len(before)
    await client.threads.update_state(thread["thread_id"], {"message": "edited"})
    assert (await client.threads.get_state(thread["thread_id"]))["values"]["message"] == "edited"
