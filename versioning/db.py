"""Where labels, audit events and experiments live: Postgres (``DATABASE_URL``) or SQLite (embedded default).

Every replica and the CLI read and write the same rows. Each change that can alter how a run resolves its
version bumps ``versioning_epoch`` in the same transaction; on Postgres it also ``NOTIFY``s the new epoch.
The cache token is the database's epoch as this process last saw it: a listener thread reads it when it
starts listening (and after every reconnect, so nothing missed while disconnected is trusted) and takes
each notified value; a commit of this process takes the value its own transaction returned. Every replica
holds the same number for the same state. On SQLite the token is ``PRAGMA data_version``, which changes when
another connection (of this or another process) commits.

Driver errors never leave this module raw: a unique or foreign-key violation is a
:class:`~versioning.errors.ConflictError`, anything else a :class:`~versioning.errors.StoreError` whose
message names the database without its password.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import psycopg
from psycopg.types.json import Jsonb

from core.connections import reuse_or_connect
from core.settings import redact_url
from versioning.errors import ConflictError, StoreError

logger = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).with_name("schema")
CHANNEL = "tradeflow_versioning"
Dialect = Literal["postgres", "sqlite"]


class Tx:
    """One open transaction: ``:name`` placeholders, values always bound."""

    def __init__(self, db: VersioningDB, cursor: Any) -> None:
        self._db = db
        self._cursor = cursor
        self.bumped = False
        self.epoch: int | None = None

    def execute(self, query: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement; rows when it returns any."""
        bound = {k: self._db.value_in(v) for k, v in (params or {}).items()}
        if self._db.dialect == "postgres":
            self._cursor.execute(_pyformat(query), bound)
        else:
            self._cursor.execute(query, bound)
        return list(self._cursor.fetchall()) if self._cursor.description else []

    def bump_epoch(self) -> None:
        """Mark resolution-affecting data as changed (and tell every Postgres listener)."""
        rows = self.execute("UPDATE versioning_epoch SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch")
        self.bumped = True
        self.epoch = int(rows[0][0])
        if self._db.dialect == "postgres":
            self.execute("SELECT pg_notify(:channel, :epoch)", {"channel": CHANNEL, "epoch": str(rows[0][0])})


def _pyformat(query: str) -> str:
    out, i = [], 0
    while i < len(query):
        if query[i] == ":" and i + 1 < len(query) and (query[i + 1].isalpha() or query[i + 1] == "_"):
            if i > 0 and query[i - 1] == ":":  # a ::cast
                out.append(":")
                i += 1
                continue
            j = i + 1
            while j < len(query) and (query[j].isalnum() or query[j] == "_"):
                j += 1
            out.append(f"%({query[i + 1 : j]})s")
            i = j
        else:
            out.append("%%" if query[i] == "%" else query[i])
            i += 1
    return "".join(out)


class VersioningDB:
    """One connection (serialised by a lock) and the change feed caches check."""

    def __init__(self, database_url: str | None, sqlite_path: Path) -> None:
        self.dialect: Dialect = "postgres" if database_url else "sqlite"
        self.url = database_url
        self.sqlite_path = sqlite_path
        self._lock = threading.RLock()
        self._conn: Any = None
        self._feed_lock = threading.Lock()
        self._feed_conn: sqlite3.Connection | None = None
        self._listener: threading.Thread | None = None
        self._listening = False
        self._epoch: int | None = None
        self._epoch_lock = threading.Lock()
        self._closed = threading.Event()
        self._migrated = False

    def where(self) -> str:
        """The database, for messages (no password)."""
        return redact_url(self.url) if self.url else str(self.sqlite_path)

    # --- connections ---------------------------------------------------------------------------
    def _connect(self) -> Any:
        self._conn = reuse_or_connect(self._conn, self.url, self.sqlite_path)
        return self._conn

    def migrate(self) -> None:
        """Apply the schema files not yet applied."""
        with self._lock:
            if self._migrated:
                return
            files = sorted((SCHEMA_DIR / self.dialect).glob("*.sql"))
            with self._transaction(write=True) as tx:
                tx.execute("CREATE TABLE IF NOT EXISTS versioning_migrations (version integer PRIMARY KEY)")
                if self.dialect == "postgres":
                    tx.execute("LOCK TABLE versioning_migrations IN EXCLUSIVE MODE")
                done = {row[0] for row in tx.execute("SELECT version FROM versioning_migrations")}
                for path in files:
                    number = int(path.name.split("_", 1)[0])
                    if number in done:
                        continue
                    if self.dialect == "postgres":
                        tx._cursor.execute(path.read_text())
                    else:
                        for statement in path.read_text().split(";"):
                            if statement.strip():
                                tx._cursor.execute(statement)
                    tx.execute("INSERT INTO versioning_migrations (version) VALUES (:v)", {"v": number})
            self._migrated = True

    @contextlib.contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Tx]:
        """A transaction; a write one on SQLite is ``BEGIN IMMEDIATE``, so two writers never interleave."""
        self.migrate()
        with self._transaction(write=write) as tx:
            yield tx

    @contextlib.contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Tx]:
        if self._closed.is_set():
            raise StoreError(f"versioning database {self.where()}: this handle was closed (settings were reset)")
        with self._lock:
            try:
                conn = self._connect()
                if self.dialect == "postgres":
                    with conn.transaction(), conn.cursor() as cursor:
                        tx = Tx(self, cursor)
                        yield tx
                    if tx.epoch is not None:  # this process's own caches need not wait for the NOTIFY to come back
                        self._saw_epoch(tx.epoch)
                else:
                    cursor = conn.cursor()
                    cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    try:
                        yield Tx(self, cursor)
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
            except (psycopg.IntegrityError, sqlite3.IntegrityError) as exc:
                raise ConflictError(f"versioning database {self.where()}: {self._readable(exc)}",
                                    field="(database)") from exc  # fmt: skip
            except (psycopg.Error, sqlite3.Error) as exc:
                raise StoreError(f"versioning database {self.where()}: {self._readable(exc)}") from exc

    def _readable(self, exc: BaseException) -> str:
        """A driver error's first line, the database named without its password."""
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        text = lines[0] if lines else type(exc).__name__
        if self.url:
            text = text.replace(self.url, self.where())
            password = urlparse(self.url).password
            if password:
                text = text.replace(password, "***")
        return text

    def fetch(self, query: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """A read in its own short transaction."""
        with self.transaction(write=False) as tx:
            return tx.execute(query, params)

    # --- values --------------------------------------------------------------------------------
    def value_in(self, value: Any) -> Any:
        """Python value -> driver value (JSON for dicts and lists)."""
        if isinstance(value, dict | list):
            return Jsonb(value) if self.dialect == "postgres" else json.dumps(value, sort_keys=True)
        if isinstance(value, datetime) and self.dialect == "sqlite":
            return value.isoformat()
        return value

    @staticmethod
    def json_out(value: Any) -> Any:
        """A JSON column as Python (Postgres already decodes jsonb; SQLite stores text)."""
        return json.loads(value) if isinstance(value, str) else value

    @staticmethod
    def time_out(value: Any) -> str | None:
        """A timestamp column as ISO 8601 text."""
        return value.isoformat() if isinstance(value, datetime) else value

    # --- change feed ---------------------------------------------------------------------------
    @property
    def change_token_in_memory(self) -> bool:
        """Whether reading the change token does no I/O.

        Postgres: a counter its ``LISTEN`` thread bumps. SQLite reads ``PRAGMA data_version``, a database call an
        event loop must not make (``langgraph dev`` refuses it).
        """
        return self.dialect == "postgres"

    def change_token(self) -> int | None:
        """Changes when resolution data may have changed; None means "unknown: do not trust a cache".

        Read it before loading what it guards: a value loaded after reading token T is at least as new as T.
        """
        if self.dialect == "sqlite":
            with self._feed_lock:
                if self._closed.is_set():
                    return None
                try:
                    if self._feed_conn is None:
                        self.migrate()
                        self._feed_conn = sqlite3.connect(str(self.sqlite_path), check_same_thread=False)
                    row = self._feed_conn.execute("PRAGMA data_version").fetchone()
                except sqlite3.Error as exc:
                    raise StoreError(f"versioning database {self.where()}: {self._readable(exc)}") from exc
                return int(row[0])
        if self._listener is None:
            with self._feed_lock:
                if self._listener is None and not self._closed.is_set():
                    self._listener = threading.Thread(target=self._listen, name="versioning-listener", daemon=True)
                    self._listener.start()
        return self._epoch if self._listening else None

    def _saw_epoch(self, epoch: int) -> None:
        with self._epoch_lock:
            if self._epoch is None or epoch > self._epoch:
                self._epoch = epoch

    def _listen(self) -> None:
        while not self._closed.is_set():
            try:
                self.migrate()
                with psycopg.connect(str(self.url), autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    # Listening first, then the epoch: a change committed in between is both read and notified.
                    row = conn.execute("SELECT epoch FROM versioning_epoch WHERE id = 1").fetchone()
                    with self._epoch_lock:  # after a reconnect the database's value is the truth
                        self._epoch = int(row[0]) if row else 0
                    self._listening = True
                    while not self._closed.is_set():
                        for notice in conn.notifies(timeout=1.0):
                            self._saw_epoch(int(notice.payload) if notice.payload.isdigit() else 0)
            except (psycopg.Error, StoreError) as exc:
                if self._closed.is_set():
                    return
                logger.warning("versioning change listener lost %s (%s); caches are bypassed until it is back",
                               self.where(), self._readable(exc))  # fmt: skip
            self._listening = False
            self._closed.wait(1.0)

    def wait_listening(self, timeout_s: float = 5.0) -> bool:
        """Start the Postgres listener and wait until it listens (tests, benchmarks); True on SQLite."""
        deadline = time.monotonic() + timeout_s
        while self.change_token() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.change_token() is not None

    def close(self, timeout_s: float = 5.0) -> None:
        """Close connections and stop the listener (waits for it); the handle refuses further use."""
        self._closed.set()
        self._listening = False
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        with self._feed_lock:
            if self._feed_conn is not None:
                self._feed_conn.close()
                self._feed_conn = None
        listener = self._listener
        if listener is not None and listener is not threading.current_thread():
            listener.join(timeout_s)
