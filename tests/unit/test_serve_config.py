"""``tradeflow serve --config`` from another directory: langgraph-api resolves the auth hook's and the HTTP app's
paths against the working directory, so the server is given a copy of the config with absolute paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.serve_command import config_for_here

REPO = Path(__file__).resolve().parents[2]


def test_a_config_elsewhere_is_served_from_a_copy_with_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    served = config_for_here(REPO / "langgraph.json", tmp_path / "data")
    assert served == tmp_path / "data" / "langgraph.serve.json"
    spec = json.loads(served.read_text())
    paths = [*spec["graphs"].values(), spec["checkpointer"]["path"], spec["auth"]["path"], spec["http"]["app"]]
    for entry in paths:
        path, _, attr = entry.partition(":")
        assert Path(path).is_absolute(), entry
        assert Path(path).is_file(), entry
        assert attr, entry
    assert spec["dependencies"] == [str(REPO)]
    assert spec["auth"]["disable_studio_auth"] is True  # everything else is kept as it was


def test_a_config_in_the_working_directory_is_served_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    assert config_for_here(Path("langgraph.json"), tmp_path) == REPO / "langgraph.json"
    assert not list(tmp_path.iterdir())
