"""Checkpointers: Postgres when ``DATABASE_URL`` is set, SQLite under the data directory otherwise.

Two entry points share one decision:

* :func:`open_async_checkpointer` is what ``tradeflow run`` uses in-process.
* :func:`server_checkpointer` (async) is named in ``langgraph.json`` under ``checkpointer.path``; the
  LangGraph server enters it once per event loop and uses what it yields for every thread.

Tables are migrated only when the migrations table says they are behind, so a run never pays for
``setup()`` once the schema is current.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from core.errors import PersistenceError
from core.settings import Settings, get_settings, redact_url

logger = logging.getLogger(__name__)

_LATEST_MIGRATION = len(PostgresSaver.MIGRATIONS) - 1


def postgres_schema_is_current(database_url: str) -> bool:
    """True when the checkpoint tables exist and every migration has been applied."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('checkpoint_migrations') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return False
        row = conn.execute("SELECT max(v) FROM checkpoint_migrations").fetchone()
    return row is not None and row[0] is not None and int(row[0]) >= _LATEST_MIGRATION


def ensure_postgres_schema(database_url: str) -> bool:
    """Create or migrate the checkpoint tables if they are behind; True when it ran migrations."""
    try:
        if postgres_schema_is_current(database_url):
            return False
        with PostgresSaver.from_conn_string(database_url) as saver:
            saver.setup()
    except psycopg.Error as exc:
        raise PersistenceError(
            f"DATABASE_URL: cannot set up checkpoint tables at {redact_url(database_url)}: {exc}"
        ) from exc
    logger.info("checkpoint tables migrated at %s", redact_url(database_url))
    return True


@asynccontextmanager
async def open_async_checkpointer(settings: Settings) -> AsyncIterator[BaseCheckpointSaver[str]]:
    """Yield a durable async checkpointer: a pooled Postgres saver, or SQLite under the data dir."""
    if settings.database_url:
        ensure_postgres_schema(settings.database_url)
        pool = AsyncConnectionPool(
            settings.database_url,
            min_size=1,
            max_size=10,
            open=False,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        )
        try:
            await pool.open(wait=True, timeout=10)
        except psycopg.Error as exc:
            raise PersistenceError(
                f"DATABASE_URL: cannot connect to {redact_url(settings.database_url)}: {exc}"
            ) from exc
        try:
            yield AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        finally:
            await pool.close()
        return
    path = settings.sqlite_checkpoint_path
    path.parent.mkdir(parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        # Create the tables now: some server calls (deleting a temporary thread) skip the lazy set-up.
        await saver.setup()
        yield saver


@asynccontextmanager
async def server_checkpointer() -> AsyncIterator[BaseCheckpointSaver[str]]:
    """The factory ``langgraph.json`` names: the server's checkpointer, chosen by settings."""
    settings = get_settings()
    async with open_async_checkpointer(settings) as saver:
        where = redact_url(settings.database_url) if settings.database_url else str(settings.sqlite_checkpoint_path)
        logger.info("server checkpointer: %s at %s", type(saver).__name__, where)
        yield saver
