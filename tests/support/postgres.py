"""A throw-away Postgres database per test session, on the server CI and developers have running."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql

ADMIN_URL = os.environ.get("TRADEFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _url_for(database: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


def require_postgres() -> None:
    """Skip when Postgres is down on a laptop; fail when CI=true (CI must prove the Postgres path)."""
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3):
            return
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@contextmanager
def scratch_database(prefix: str = "tradeflow_test") -> Iterator[str]:
    """Create an empty database, yield its URL, drop it afterwards."""
    require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _url_for(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def scratch_database_for(store: str, prefix: str) -> Iterator[str | None]:
    """A scratch database's URL when ``store`` is ``"postgres"``, else None (the embedded SQLite default)."""
    if store == "postgres":
        with scratch_database(prefix) as url:
            yield url
    else:
        yield None
