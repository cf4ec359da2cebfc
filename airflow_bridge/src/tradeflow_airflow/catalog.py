"""The published workflows, read from the server's ``GET /workflows`` with a last-known copy on disk.

DAG files are parsed again and again (every ``min_file_process_interval``, and by each worker before a
task), so the list is cached in a JSON file: a copy younger than ``refresh_s`` is used without asking the
server, and when the server cannot be reached the last-known copy is used whatever its age, so an
outage never removes the generated DAGs. Only with no copy at all is the server's list empty; the
check file (see ``dag_factory``) then shows the outage as an import error.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from airflow.sdk.exceptions import AirflowException, AirflowRuntimeError

from tradeflow_airflow.hooks.langgraph import LangGraphHook

logger = logging.getLogger(__name__)


def default_cache_path() -> Path:
    """``$AIRFLOW_HOME/tradeflow_workflows.json`` (``~/airflow`` when AIRFLOW_HOME is unset)."""
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return Path(home) / "tradeflow_workflows.json"


@dataclass(frozen=True)
class Catalog:
    """The workflow list and where it came from."""

    workflows: list[dict[str, Any]]
    fetched_at: float | None
    """When the server gave this list (epoch seconds); None when there is no list at all."""
    problem: str | None = None
    """Why the server was not read just now (an outage), if it was not; the list is then the cached one."""


def _read_cache(path: Path) -> Catalog | None:
    try:
        body = json.loads(path.read_text())
        return Catalog(workflows=list(body["workflows"]), fetched_at=float(body["fetched_at"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("ignoring unreadable workflow cache %s: %s", path, exc)
        return None


def _write_cache(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as out:
        json.dump({"fetched_at": catalog.fetched_at, "workflows": catalog.workflows}, out)
    os.replace(tmp, path)  # atomic: a parser never reads half a file


def load_catalog(conn_id: str, cache_path: Path, refresh_s: float) -> Catalog:
    """The server's workflow list: fresh cache, else the server, else the last-known copy."""
    cached = _read_cache(cache_path)
    if cached is not None and cached.fetched_at is not None and time.time() - cached.fetched_at < refresh_s:
        return cached
    try:
        workflows = LangGraphHook(conn_id).list_workflows()
    except (httpx.HTTPError, OSError, AirflowException, AirflowRuntimeError, ValueError) as exc:
        problem = f"GET /workflows through connection {conn_id!r} failed: {type(exc).__name__}: {exc}"
        if cached is None:
            logger.error("%s; no cached list at %s, so no server workflows", problem, cache_path)
            return Catalog(workflows=[], fetched_at=None, problem=f"{problem}; no cached list at {cache_path}")
        age = time.time() - (cached.fetched_at or 0)
        logger.warning("%s; using the list cached %.0f s ago at %s", problem, age, cache_path)
        return Catalog(cached.workflows, cached.fetched_at, problem=f"{problem}; using the list cached {age:.0f} s ago")
    catalog = Catalog(workflows=workflows, fetched_at=time.time())
    try:
        _write_cache(cache_path, catalog)
    except OSError as exc:
        logger.warning("cannot write the workflow cache %s: %s", cache_path, exc)
    return catalog
