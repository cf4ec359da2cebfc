"""The example inputs under examples/, as the tests feed them to graphs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_input(graph_id: str) -> dict[str, Any]:
    """The parsed ``examples/<graph_id>.json``."""
    payload: dict[str, Any] = json.loads((EXAMPLES / f"{graph_id}.json").read_text())
    return payload
