"""Streaming a served graph through mid-stream faults: `langgraph dev`, langgraph-sdk, the LLM double.

market_brief's model step runs the llm_router subgraph, and its tokens stream to the client as the step's own
(stream_mode messages-tuple, no subgraphs flag). The primary backend (Ollama kind) breaks in each way a stream
can; the run must succeed on the fallback, with the abandoned partial message closed as superseded, a
``tradeflow.stream_superseded`` event saying so, and the answer under its own id.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from router.record import SUPERSEDED_EVENT
from tests.doubles.llm_server import Behaviour, LLMServerDouble
from tests.support.examples import example_input
from tests.support.langgraph_server import DevServer, start_with_double
from tests.support.sdk import get_client
from tests.support.two_backends import FALLBACK, PRIMARY, fault_table

pytestmark = [pytest.mark.server]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, llm_server: LLMServerDouble) -> Iterator[DevServer]:
    workdir = tmp_path_factory.mktemp("stream-faults")
    env = fault_table(llm_server, workdir)
    env.pop("TRADEFLOW_DATA_DIR")
    dev = start_with_double(workdir, env)
    yield dev
    dev.stop()


async def _stream(server: DevServer) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any], list[dict[str, Any]]]:
    client = get_client(url=server.url)
    by_id: dict[str, list[dict[str, Any]]] = {}
    values: dict[str, Any] = {}
    superseded: list[dict[str, Any]] = []
    async for part in client.runs.stream(
        None, "market_brief", input=example_input("market_brief"), stream_mode=["messages-tuple", "values", "events"]
    ):
        if part.event == "messages":
            message, _ = part.data
            by_id.setdefault(message["id"], []).append(message)
        elif part.event == "values":
            values = part.data
        elif part.event == "events" and part.data.get("event") == "on_custom_event":
            if part.data.get("name") == SUPERSEDED_EVENT:
                superseded.append(part.data["data"])
        elif part.event == "error":
            raise AssertionError(f"the run failed: {part.data}")
    return by_id, values, superseded


def _text(chunks: list[dict[str, Any]]) -> str:
    return "".join(str(c["content"]) for c in chunks)


async def test_a_served_model_step_streams_token_by_token(server: DevServer, llm_double: LLMServerDouble) -> None:
    """Regression: since the trading workflows became spec-compiled, a served run streamed with messages-tuple
    got no token chunks from its model step."""
    by_id, values, superseded = await _stream(server)
    [chunks] = by_id.values()
    assert len([c for c in chunks if c["content"]]) > 1
    assert _text(chunks).strip() == values["brief"]
    assert values["brief"].startswith(f"[{PRIMARY}:")
    assert not superseded


@pytest.mark.parametrize(
    ("fault", "behaviour"),
    [
        ("cut", Behaviour(fault="stream_cut")),
        ("stall", Behaviour(fault="stall", stall_s=4)),
        ("malformed chunk", Behaviour(fault="malformed_chunk")),
        ("no done line", Behaviour(fault="missing_done")),
        ("slow first token", Behaviour(fault="slow_first_token", first_token_delay_s=6)),
    ],
)
async def test_a_streamed_run_succeeds_on_the_fallback(
    server: DevServer, llm_double: LLMServerDouble, fault: str, behaviour: Behaviour
) -> None:
    llm_double.set_behaviour(PRIMARY, behaviour)
    by_id, values, superseded = await _stream(server)
    assert values["brief"].startswith(f"[{FALLBACK}:"), fault
    assert len(llm_double.requests_for(PRIMARY)) >= 1
    answer_id = next(i for i, chunks in by_id.items() if _text(chunks).startswith(f"[{FALLBACK}:"))
    assert _text(by_id[answer_id]).strip() == values["brief"]
    partial = [chunks for i, chunks in by_id.items() if i != answer_id and any(c["content"] for c in chunks)]
    if fault == "slow first token":  # nothing reached the client before the hand-over
        assert not partial
        assert not superseded
        return
    [chunks] = partial  # tokens of the primary reached the client before it broke: closed as superseded
    closing = chunks[-1]["response_metadata"]
    assert closing["tradeflow_superseded"] is True
    assert closing["replaced_by"] == answer_id
    [event] = superseded
    assert event["superseded_message_id"] == chunks[-1]["id"]
    assert event["replaced_by"] == answer_id
