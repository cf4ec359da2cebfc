"""Tokens of a spec-compiled workflow's model step stream to a client of the workflow, in-process.

The LLM step runs the llm_router subgraph; its tokens must reach ``stream_mode="messages"`` as the step's own
(no ``subgraphs=True`` needed), and a stream that breaks after its first token restarts on the fallback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.settings import reset_settings
from graphs.workflows import repo_workflow
from tests.doubles.llm_server import Behaviour, LLMServerDouble
from tests.support.examples import example_input
from tests.support.two_backends import FALLBACK, PRIMARY, fault_table


@pytest.fixture
def two_backends(llm_double: LLMServerDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LLMServerDouble:
    for key, value in fault_table(llm_double, tmp_path).items():
        monkeypatch.setenv(key, value)
    reset_settings()
    return llm_double


async def _stream(stream_mode: list[str]) -> tuple[dict[str, list[Any]], list[dict[str, Any]], dict[str, Any]]:
    graph = repo_workflow("market_brief")[0].graph
    by_id: dict[str, list[Any]] = {}
    metas: list[dict[str, Any]] = []
    values: dict[str, Any] = {}
    async for mode, data in graph.astream(example_input("market_brief"), stream_mode=stream_mode):
        if mode == "messages":
            message, meta = data
            by_id.setdefault(message.id, []).append(message)
            metas.append(meta)
        elif mode == "values":
            values = data
    return by_id, metas, values


async def test_a_model_steps_tokens_stream_as_the_steps_own(two_backends: LLMServerDouble) -> None:
    """Regression: since the trading workflows became spec-compiled (LLM steps run the llm_router subgraph),
    a client streaming stream_mode="messages" got no token chunks from model steps."""
    by_id, metas, values = await _stream(["messages", "values"])
    [chunks] = by_id.values()
    assert len([c for c in chunks if c.content]) > 1  # token by token, not one message at the end
    assert "".join(str(c.content) for c in chunks).strip() == values["brief"]
    assert chunks[-1].response_metadata["model_name"] == PRIMARY
    assert {meta["langgraph_node"] for meta in metas} == {"write_brief"}


@pytest.mark.parametrize(
    ("fault", "behaviour"),
    [
        ("cut", Behaviour(fault="stream_cut")),
        ("stall", Behaviour(fault="stall", stall_s=3)),
        ("malformed chunk", Behaviour(fault="malformed_chunk")),
        ("no done line", Behaviour(fault="missing_done")),
    ],
)
async def test_a_broken_stream_in_a_model_step_restarts_on_the_fallback(
    two_backends: LLMServerDouble, fault: str, behaviour: Behaviour
) -> None:
    two_backends.set_behaviour(PRIMARY, behaviour)
    by_id, _, values = await _stream(["messages", "values"])
    assert values["brief"].startswith(f"[{FALLBACK}:"), fault
    partial_id, answer_id = list(by_id)
    closing = by_id[partial_id][-1]
    assert closing.response_metadata["tradeflow_superseded"] is True
    assert closing.response_metadata["replaced_by"] == answer_id
    assert "".join(str(c.content) for c in by_id[answer_id]).strip() == values["brief"]
