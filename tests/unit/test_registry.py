from __future__ import annotations

import importlib.util
import re
import uuid
from pathlib import Path

import pytest

from graphs.errors import InvalidInputError, UnknownGraphError
from graphs.registry import GRAPHS, get_entry, graph_id_for_assistant, validate_input, validate_resume
from tests.support.examples import example_input

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("graph_id", sorted(GRAPHS))
def test_every_example_input_is_valid(graph_id: str) -> None:
    payload = example_input(graph_id)
    assert validate_input(graph_id, payload)


def test_errors_name_every_bad_field() -> None:
    payload = example_input("trade_break_triage")
    payload["trade_break"]["notional"] = "lots"
    del payload["trade_break"]["currency"]
    payload["trade_break"]["differences"][0]["colour"] = "red"
    with pytest.raises(InvalidInputError) as info:
        validate_input("trade_break_triage", payload)
    assert info.value.fields == [
        "trade_break.notional",
        "trade_break.currency",
        "trade_break.differences.0.colour",
    ]
    assert "trade_break.notional: Input should be a valid number" in str(info.value)


def test_non_object_input_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="market_brief"):
        validate_input("market_brief", ["not", "an", "object"])


def test_unknown_graph_lists_the_served_ones() -> None:
    with pytest.raises(UnknownGraphError, match="market_brief"):
        get_entry("nope")


def _server_namespace() -> uuid.UUID:
    """langgraph_api's NAMESPACE_GRAPH, read from its source (importing it needs a server config)."""
    spec = importlib.util.find_spec("langgraph_api")
    assert spec is not None
    assert spec.origin is not None
    source = (Path(spec.origin).parent / "graph.py").read_text()
    match = re.search(r'NAMESPACE_GRAPH = UUID\("([0-9a-f-]+)"\)', source)
    assert match, "NAMESPACE_GRAPH not found in langgraph_api/graph.py"
    return uuid.UUID(match.group(1))


def test_default_assistant_ids_match_the_server() -> None:
    NAMESPACE_GRAPH = _server_namespace()
    for entry in GRAPHS.values():
        assert entry.default_assistant_id == str(uuid.uuid5(NAMESPACE_GRAPH, entry.graph_id))
        assert graph_id_for_assistant(entry.default_assistant_id) == entry.graph_id
        assert graph_id_for_assistant(entry.graph_id) == entry.graph_id
    assert graph_id_for_assistant(str(uuid.uuid4())) is None


@pytest.mark.parametrize(
    ("value", "fields"),
    [
        ({"approved": "yes", "approver": "jo"}, ["resume.approved"]),
        ({"approved": True, "approver": ""}, ["resume.approver"]),
        ({"approved": True, "approver": 7}, ["resume.approver"]),
        ({"approved": True, "approver": "jo", "extra": 1}, ["resume.extra"]),
        ("approve", ["resume"]),
    ],
)
def test_triage_resume_is_validated(value: object, fields: list[str]) -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_resume("trade_break_triage", value)
    assert info.value.fields == fields


def test_valid_resume_passes() -> None:
    validate_resume("trade_break_triage", {"approved": False, "approver": "jo", "comment": "no"})
    validate_resume("trade_break_triage", {"approved": True})  # the approver is the caller: naming it is optional
