"""One long-lived connection to tradeflow's own tables: Postgres when a URL is set, else an SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg


def reuse_or_connect(current: Any, database_url: str | None, sqlite_path: Path) -> Any:
    """``current`` while it is usable, else a new connection.

    Postgres: autocommit, a 5 s connect timeout, replaced once closed or broken. SQLite: the file (its folder
    created), shareable across threads, autocommit (``isolation_level=None``), WAL, a 30 s busy timeout.
    """
    if database_url:
        if current is None or current.closed or current.broken:
            return psycopg.connect(str(database_url), autocommit=True, connect_timeout=5)
        return current
    if current is None:
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        current = sqlite3.connect(str(sqlite_path), check_same_thread=False, isolation_level=None, timeout=30)
        current.execute("PRAGMA journal_mode=WAL")
    return current
