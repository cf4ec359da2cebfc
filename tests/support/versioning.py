"""A versioning service on temporary Git and database locations, for tests."""

from __future__ import annotations

from pathlib import Path

from core.settings import settings_from_mapping
from graphs.versioning_service import VersioningService
from graphs.workflows import spec_file


def make_service(tmp_path: Path, database_url: str | None = None) -> VersioningService:
    """A service whose store and database live under ``tmp_path`` (or in ``database_url``)."""
    env = {"TRADEFLOW_DATA_DIR": str(tmp_path / "data"), "TRADEFLOW_WORKFLOWS_REPO": str(tmp_path / "workflows.git")}
    if database_url:
        env["DATABASE_URL"] = database_url
    return VersioningService(settings_from_mapping(env))


def variant(workflow: str, marker: str) -> str:
    """The committed spec with a comment added: different content, same behaviour."""
    return spec_file(workflow).read_text() + f"# {marker}\n"
