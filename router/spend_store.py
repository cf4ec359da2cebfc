"""Where spend and budget reservations live: Postgres (``DATABASE_URL``), SQLite on the embedded default.

Every worker process and every restart sees the same figures. A reservation is checked and taken atomically
(a row lock in Postgres, ``BEGIN IMMEDIATE`` in SQLite), so concurrent calls in any number of processes cannot
overspend; a reservation a crashed process never settled expires after its time-to-live.

:class:`MemorySpendStore` keeps the same figures in this process only: for a :class:`~router.engine.Router`
built without a database (unit tests, benchmarks). The process router always uses a database store.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from router.errors import SpendStoreError

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS router_spend (
    workflow TEXT NOT NULL, day TEXT NOT NULL, spent_usd REAL NOT NULL DEFAULT 0, PRIMARY KEY (workflow, day)
);
CREATE TABLE IF NOT EXISTS router_reservations (
    id TEXT PRIMARY KEY, workflow TEXT NOT NULL, day TEXT NOT NULL, amount_usd REAL NOT NULL, expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS router_reservations_workflow_day ON router_reservations (workflow, day);
"""

_POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS router_spend (
    workflow text NOT NULL, day date NOT NULL, spent_usd double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (workflow, day)
);
CREATE TABLE IF NOT EXISTS router_reservations (
    id text PRIMARY KEY, workflow text NOT NULL, day date NOT NULL, amount_usd double precision NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS router_reservations_workflow_day ON router_reservations (workflow, day);
CREATE OR REPLACE FUNCTION router_reserve(p_id text, p_workflow text, p_day date, p_amount double precision,
                                          p_budget double precision, p_ttl_s double precision)
RETURNS TABLE (granted boolean, committed double precision) LANGUAGE plpgsql AS $$
DECLARE v_spent double precision; v_reserved double precision;
BEGIN
    INSERT INTO router_spend (workflow, day) VALUES (p_workflow, p_day) ON CONFLICT DO NOTHING;
    -- The row lock serialises reservations of one workflow and day across every process.
    SELECT s.spent_usd INTO v_spent FROM router_spend s WHERE s.workflow = p_workflow AND s.day = p_day FOR UPDATE;
    -- Reservations a crashed or cut-off process never settled: counted out below, and deleted here.
    DELETE FROM router_reservations r WHERE r.workflow = p_workflow AND r.expires_at <= clock_timestamp();
    SELECT coalesce(sum(r.amount_usd), 0) INTO v_reserved FROM router_reservations r
        WHERE r.workflow = p_workflow AND r.day = p_day AND r.expires_at > clock_timestamp();
    IF v_spent + v_reserved + p_amount > p_budget THEN
        RETURN QUERY SELECT false, v_spent + v_reserved;
        RETURN;
    END IF;
    INSERT INTO router_reservations VALUES
        (p_id, p_workflow, p_day, p_amount, clock_timestamp() + make_interval(secs => p_ttl_s));
    RETURN QUERY SELECT true, v_spent + v_reserved + p_amount;
END $$;
CREATE OR REPLACE FUNCTION router_settle(p_id text, p_workflow text, p_day date, p_actual double precision)
RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE v_spent double precision;
BEGIN
    DELETE FROM router_reservations WHERE id = p_id;
    INSERT INTO router_spend AS s (workflow, day, spent_usd) VALUES (p_workflow, p_day, p_actual)
        ON CONFLICT (workflow, day) DO UPDATE SET spent_usd = s.spent_usd + excluded.spent_usd
        RETURNING s.spent_usd INTO v_spent;
    RETURN v_spent + coalesce((SELECT sum(amount_usd) FROM router_reservations
        WHERE workflow = p_workflow AND day = p_day AND expires_at > clock_timestamp()), 0);
END $$;
"""


class SpendStore(Protocol):
    """Spend per workflow per UTC day, and reservations against a budget."""

    def reserve(
        self, reservation_id: str, workflow: str, day: date, amount_usd: float, budget_usd: float, ttl_s: float
    ) -> tuple[bool, float]:
        """Take ``amount_usd`` of the budget if it fits; (granted, spent + reserved afterwards)."""

    def settle(self, reservation_id: str, workflow: str, day: date, actual_usd: float) -> float:
        """Replace a reservation by the real cost; spent + reserved afterwards."""

    def extend(self, reservation_id: str, ttl_s: float) -> None:
        """Keep a reservation ``ttl_s`` longer from now (its attempt is still running)."""

    def spent(self, workflow: str, day: date) -> float:
        """Settled spend of ``workflow`` on ``day``."""

    def close(self) -> None:
        """Release connections (the store opens them again if used)."""


class MemorySpendStore:
    """The same bookkeeping in process memory (a router built without a database)."""

    def __init__(self) -> None:
        self._spent: dict[tuple[str, date], float] = {}
        self._held: dict[str, tuple[str, date, float, float]] = {}
        self._lock = threading.Lock()

    def _reserved(self, workflow: str, day: date, now: float) -> float:
        return sum(a for w, d, a, until in self._held.values() if w == workflow and d == day and until > now)

    def reserve(
        self, reservation_id: str, workflow: str, day: date, amount_usd: float, budget_usd: float, ttl_s: float
    ) -> tuple[bool, float]:
        """See :class:`SpendStore`."""
        now = time.time()
        with self._lock:
            committed = self._spent.get((workflow, day), 0.0) + self._reserved(workflow, day, now)
            if committed + amount_usd > budget_usd:
                return False, committed
            self._held[reservation_id] = (workflow, day, amount_usd, now + ttl_s)
            return True, committed + amount_usd

    def settle(self, reservation_id: str, workflow: str, day: date, actual_usd: float) -> float:
        """See :class:`SpendStore`."""
        with self._lock:
            self._held.pop(reservation_id, None)
            spent = self._spent[(workflow, day)] = self._spent.get((workflow, day), 0.0) + actual_usd
            return spent + self._reserved(workflow, day, time.time())

    def extend(self, reservation_id: str, ttl_s: float) -> None:
        """See :class:`SpendStore`."""
        with self._lock:
            held = self._held.get(reservation_id)
            if held is not None:
                self._held[reservation_id] = (*held[:3], time.time() + ttl_s)

    def spent(self, workflow: str, day: date) -> float:
        """See :class:`SpendStore`."""
        with self._lock:
            return self._spent.get((workflow, day), 0.0)

    def close(self) -> None:
        """Nothing to release."""


class SqliteSpendStore:
    """Spend in a SQLite file (the embedded default): one writer at a time across processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SQLITE_SCHEMA)
            self._conn = conn
        return self._conn

    def _transaction(self, work: Any) -> Any:
        with self._lock:
            try:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return result
            except sqlite3.Error as exc:
                raise SpendStoreError(f"spend ledger at {self.path}: {exc}") from exc

    @staticmethod
    def _committed(conn: sqlite3.Connection, workflow: str, day: str, now: float) -> tuple[float, float]:
        row = conn.execute("SELECT spent_usd FROM router_spend WHERE workflow = ? AND day = ?", (workflow, day))
        found = row.fetchone()
        held = conn.execute(
            "SELECT coalesce(sum(amount_usd), 0) FROM router_reservations WHERE workflow = ? AND day = ? "
            "AND expires_at > ?",
            (workflow, day, now),
        ).fetchone()
        return (float(found[0]) if found else 0.0), float(held[0])

    def reserve(
        self, reservation_id: str, workflow: str, day: date, amount_usd: float, budget_usd: float, ttl_s: float
    ) -> tuple[bool, float]:
        """See :class:`SpendStore`."""

        def work(conn: sqlite3.Connection) -> tuple[bool, float]:
            now = time.time()
            conn.execute("DELETE FROM router_reservations WHERE expires_at <= ?", (now,))
            spent, held = self._committed(conn, workflow, day.isoformat(), now)
            if spent + held + amount_usd > budget_usd:
                return False, spent + held
            conn.execute(
                "INSERT INTO router_reservations VALUES (?, ?, ?, ?, ?)",
                (reservation_id, workflow, day.isoformat(), amount_usd, now + ttl_s),
            )
            return True, spent + held + amount_usd

        result: tuple[bool, float] = self._transaction(work)
        return result

    def settle(self, reservation_id: str, workflow: str, day: date, actual_usd: float) -> float:
        """See :class:`SpendStore`."""

        def work(conn: sqlite3.Connection) -> float:
            conn.execute("DELETE FROM router_reservations WHERE id = ?", (reservation_id,))
            conn.execute(
                "INSERT INTO router_spend (workflow, day, spent_usd) VALUES (?, ?, ?) "
                "ON CONFLICT (workflow, day) DO UPDATE SET spent_usd = spent_usd + excluded.spent_usd",
                (workflow, day.isoformat(), actual_usd),
            )
            spent, held = self._committed(conn, workflow, day.isoformat(), time.time())
            return spent + held

        total: float = self._transaction(work)
        return total

    def extend(self, reservation_id: str, ttl_s: float) -> None:
        """See :class:`SpendStore`."""
        query = "UPDATE router_reservations SET expires_at = ? WHERE id = ?"
        self._transaction(lambda conn: conn.execute(query, (time.time() + ttl_s, reservation_id)))

    def spent(self, workflow: str, day: date) -> float:
        """See :class:`SpendStore`."""
        spent, _ = self._transaction(lambda conn: self._committed(conn, workflow, day.isoformat(), time.time()))
        return float(spent)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class PostgresSpendStore:
    """Spend in Postgres: every worker and replica on ``DATABASE_URL`` shares one budget."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: Any = None
        self._lock = threading.Lock()

    def _connection(self) -> Any:
        import psycopg
        from psycopg_pool import ConnectionPool

        with self._lock:
            if self._pool is None:
                try:
                    with psycopg.connect(self.url, autocommit=False, connect_timeout=5) as conn:
                        # Several workers may start at once: one of them creates the tables and functions.
                        conn.execute("SELECT pg_advisory_xact_lock(hashtext('tradeflow.router_spend'))")
                        conn.execute(_POSTGRES_SCHEMA)
                except psycopg.Error as exc:
                    raise SpendStoreError(f"spend ledger: cannot set up its tables: {exc}") from exc
                self._pool = ConnectionPool(
                    self.url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=True, name="router-spend"
                )
            return self._pool.connection(timeout=10)

    def _call(self, query: str, params: tuple[Any, ...]) -> Any:
        import psycopg

        try:
            with self._connection() as conn:
                return conn.execute(query, params).fetchone()
        except psycopg.Error as exc:
            raise SpendStoreError(f"spend ledger: {exc}") from exc

    def reserve(
        self, reservation_id: str, workflow: str, day: date, amount_usd: float, budget_usd: float, ttl_s: float
    ) -> tuple[bool, float]:
        """See :class:`SpendStore`."""
        granted, committed = self._call(
            "SELECT * FROM router_reserve(%s, %s, %s, %s, %s, %s)",
            (reservation_id, workflow, day, amount_usd, budget_usd, ttl_s),
        )
        return bool(granted), float(committed)

    def settle(self, reservation_id: str, workflow: str, day: date, actual_usd: float) -> float:
        """See :class:`SpendStore`."""
        (total,) = self._call("SELECT router_settle(%s, %s, %s, %s)", (reservation_id, workflow, day, actual_usd))
        return float(total)

    def extend(self, reservation_id: str, ttl_s: float) -> None:
        """See :class:`SpendStore`."""
        self._call("UPDATE router_reservations SET expires_at = clock_timestamp() + make_interval(secs => %s) "
                   "WHERE id = %s RETURNING id", (ttl_s, reservation_id))  # fmt: skip

    def spent(self, workflow: str, day: date) -> float:
        """See :class:`SpendStore`."""
        row = self._call("SELECT spent_usd FROM router_spend WHERE workflow = %s AND day = %s", (workflow, day))
        return float(row[0]) if row else 0.0

    def close(self) -> None:
        """Close the connection pool."""
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
