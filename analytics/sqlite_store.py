"""The analytics tables in SQLite: the embedded default when no DATABASE_URL is set."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from analytics.errors import RowsRejectedError, StoreUnavailableError
from analytics.rows import ROW_TYPES, Row, columns
from analytics.store import PARTITIONED, ROLLUP_UPSERT, Dialect, group_by_table, migration_files, rollup_deltas

ROWS_PER_INSERT = 500


class SqliteStore:
    """The same tables in SQLite: the embedded default when no DATABASE_URL is set."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._max_variables = self._conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self._lock = threading.Lock()

    def migrate(self) -> None:
        """Apply the SQLite migrations not yet applied."""
        with self._lock:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS analytics_migrations (version INTEGER PRIMARY KEY, flavour TEXT NOT NULL, "
                "applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
            )
            done = {r[0] for r in self._conn.execute("SELECT version FROM analytics_migrations")}
            for version, path in migration_files("sqlite"):
                if version not in done:
                    self._conn.executescript("BEGIN;" + path.read_text() + f";INSERT INTO analytics_migrations "
                                             f"(version, flavour) VALUES ({version}, 'sqlite'); COMMIT;")  # fmt: skip

    def write(self, rows: Sequence[Row]) -> None:
        """Insert rows and refresh the hourly rollups in one transaction."""
        by_table = group_by_table(rows)
        with self._lock:
            try:
                self._conn.execute("BEGIN")
                for table, batch in by_table.items():
                    self._insert(table, batch)
                for table, deltas in rollup_deltas(rows).items():
                    if deltas:
                        marks = ", ".join(["?"] * len(deltas[0]))
                        values = [[_sqlite_value(v) for v in delta] for delta in deltas]
                        self._conn.executemany(ROLLUP_UPSERT[table].format(marks=marks), values)
                self._conn.execute("COMMIT")
            except (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError, OverflowError, TypeError) as exc:
                self._conn.execute("ROLLBACK")
                raise RowsRejectedError(f"analytics store refused {len(rows)} rows: {exc}") from exc
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise StoreUnavailableError(f"analytics store {self.path}: {exc}") from exc

    def _insert(self, table: str, batch: Sequence[Row]) -> None:
        """Insert many rows per statement.

        sqlite3 releases the GIL around every statement it steps: a row-by-row executemany from the writer's
        thread hands the GIL back and forth with the event loop once per row, which slowed every workflow
        run in the process by ~19% while the writer was busy (benchmarks/analytics_callbacks.py).
        """
        names = columns(ROW_TYPES[table])
        per_statement = max(1, min(ROWS_PER_INSERT, self._max_variables // len(names)))
        row_marks = "(" + ", ".join("?" for _ in names) + ")"
        head = f"INSERT INTO {table} ({', '.join(names)}) VALUES "
        for start in range(0, len(batch), per_statement):
            chunk = batch[start : start + per_statement]
            values = [_sqlite_value(getattr(r, n)) for r in chunk for n in names]
            self._conn.execute(head + ", ".join([row_marks] * len(chunk)), values)

    def fetch(self, query: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run a report query with bound parameters."""
        bound = {k: _sqlite_value(v) for k, v in params.items()}
        with self._lock:
            return list(self._conn.execute(query, bound).fetchall())

    def apply_retention(self, keep_days: int, today: date | None = None) -> list[str]:
        """Delete rows older than ``keep_days`` (SQLite has no partitions to drop)."""
        cutoff = _sqlite_value(datetime.combine((today or datetime.now(UTC).date()) - timedelta(days=keep_days),
                                                datetime.min.time(), UTC))  # fmt: skip
        with self._lock:
            for table in PARTITIONED:
                self._conn.execute(f"DELETE FROM {table} WHERE ts < ?", (cutoff,))
        return []

    def refresh_statistics(self) -> None:
        """Refresh SQLite's planner statistics."""
        with self._lock:
            self._conn.execute("ANALYZE")

    def close(self) -> None:
        """Close the database."""
        self._conn.close()


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value
