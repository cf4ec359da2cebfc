"""Tradeflow's access tables: Postgres when ``DATABASE_URL`` is set (every replica shares them), SQLite otherwise.

One connection per process, serialised by a lock and reopened when it breaks; values are always bound. The
schema files under ``access/schema/<dialect>/`` are applied once, in order, and recorded in
``tradeflow_access_migrations``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import psycopg

from access.errors import KeyStoreError
from core.connections import reuse_or_connect
from core.settings import redact_url

SCHEMA_DIR = Path(__file__).with_name("schema")
Dialect = Literal["postgres", "sqlite"]


class AccessDB:
    """Keys and the approval audit, in Postgres or SQLite."""

    def __init__(self, database_url: str | None, sqlite_path: Path) -> None:
        self.dialect: Dialect = "postgres" if database_url else "sqlite"
        self.url = database_url
        self.sqlite_path = sqlite_path
        self._lock = threading.RLock()
        self._conn: Any = None
        self._migrated = False

    def where(self) -> str:
        """The database, for messages (no password)."""
        return redact_url(self.url) if self.url else str(self.sqlite_path)

    def _connect(self) -> Any:
        self._conn = reuse_or_connect(self._conn, self.url, self.sqlite_path)
        return self._conn

    def _migrate(self, conn: Any) -> None:
        if self._migrated:
            return
        files = sorted((SCHEMA_DIR / self.dialect).glob("*.sql"))
        if self.dialect == "postgres":
            with conn.transaction():
                conn.execute("CREATE TABLE IF NOT EXISTS tradeflow_access_migrations (version integer PRIMARY KEY)")
                conn.execute("LOCK TABLE tradeflow_access_migrations IN EXCLUSIVE MODE")
                done = {row[0] for row in conn.execute("SELECT version FROM tradeflow_access_migrations")}
                for path in files:
                    number = int(path.name.split("_", 1)[0])
                    if number not in done:
                        conn.execute(path.read_text())
                        conn.execute("INSERT INTO tradeflow_access_migrations (version) VALUES (%s)", (number,))
        else:
            conn.execute("CREATE TABLE IF NOT EXISTS tradeflow_access_migrations (version integer PRIMARY KEY)")
            done = {row[0] for row in conn.execute("SELECT version FROM tradeflow_access_migrations")}
            for path in files:
                number = int(path.name.split("_", 1)[0])
                if number not in done:
                    conn.executescript(
                        f"BEGIN IMMEDIATE;\n{path.read_text()}\n"
                        f"INSERT INTO tradeflow_access_migrations (version) VALUES ({number});\nCOMMIT;"
                    )
        self._migrated = True

    @contextlib.contextmanager
    def cursor(self) -> Iterator[Any]:
        """A cursor inside one transaction (``%s`` placeholders on Postgres, ``?`` on SQLite: see :meth:`sql`)."""
        with self._lock:
            try:
                conn = self._connect()
                self._migrate(conn)
                if self.dialect == "postgres":
                    with conn.transaction(), conn.cursor() as cur:
                        yield cur
                    return
                cur = conn.cursor()
                cur.execute("BEGIN IMMEDIATE")
                try:
                    yield cur
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except (psycopg.OperationalError, sqlite3.OperationalError) as exc:
                raise KeyStoreError(f"access database {self.where()}: {exc}") from exc

    def sql(self, query: str) -> str:
        """``query`` written with ``?`` placeholders, in this database's placeholder style."""
        return query.replace("?", "%s") if self.dialect == "postgres" else query

    def close(self) -> None:
        """Close the connection (a later use reopens it)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
