"""The import map of README.md holds: cli -> graphs -> router, versioning, analytics -> core.

Regression: versioning/steps.py imported router.subgraph (the compiler ran the router itself); the router now
reaches versioning as the registry's LLM-step runner, given by graphs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OURS = {"cli", "graphs", "router", "versioning", "analytics", "core", "airflow_bridge"}
ALLOWED = {
    "cli": {"graphs", "router", "versioning", "analytics", "core"},
    "graphs": {"router", "versioning", "analytics", "core"},
    "router": {"core"},
    "versioning": {"core"},
    "analytics": {"core"},
    "core": set(),
    "airflow_bridge": set(),
}


def imported_packages(path: Path) -> set[str]:
    """Our top-level packages a module imports (anywhere in it, lazy and TYPE_CHECKING imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_the_map_allows(package: str) -> None:
    wrong = {
        str(path.relative_to(REPO)): sorted(imported - ALLOWED[package] - {package})
        for path in sorted((REPO / package).rglob("*.py"))
        if ".venv" not in path.parts and (imported := imported_packages(path)) - ALLOWED[package] - {package}
    }
    assert not wrong, f"imports against the map (README.md): {wrong}"
