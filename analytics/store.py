"""Where analytics rows live.

Postgres (daily range partitions, or TimescaleDB hypertables when the extension is available), or SQLite
for the embedded default. Migrations are versioned SQL files applied at start.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import psycopg
from psycopg import sql

from analytics.errors import RowsRejectedError, StoreUnavailableError
from analytics.rows import ROW_TYPES, LlmCallRow, Row, WorkflowRunRow, columns
from core.settings import redact_url

logger = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).with_name("schema")
PARTITIONED = tuple(ROW_TYPES)
Dialect = Literal["postgres", "sqlite"]


def migration_files(flavour: str) -> list[tuple[int, Path]]:
    """The numbered SQL files of one schema flavour, in order."""
    files = sorted((SCHEMA_DIR / flavour).glob("*.sql"))
    return [(int(path.name.split("_", 1)[0]), path) for path in files]


def group_by_table(rows: Iterable[Row]) -> dict[str, list[Row]]:
    """Rows grouped by the table they go to, in arrival order."""
    by_table: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_table[row.table].append(row)
    return by_table


class Store(Protocol):
    """What the writer and the reports need from a database."""

    dialect: Dialect

    def migrate(self) -> None:
        """Apply the schema migrations not yet applied."""

    def write(self, rows: Sequence[Row]) -> None:
        """Append rows and refresh the rollups; raise StoreUnavailableError when unreachable."""

    def fetch(self, query: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run a report query with bound parameters."""

    def apply_retention(self, keep_days: int, today: date | None = None) -> list[str]:
        """Drop data older than ``keep_days``."""

    def refresh_statistics(self) -> None:
        """Refresh the query planner's statistics on the analytics tables."""

    def close(self) -> None:
        """Release the connection."""


ROLLUP_UPSERT = {
    "llm_cost_hourly": (
        "INSERT INTO llm_cost_hourly (hour, workflow, provider, model, calls, failed_calls, input_tokens, "
        "output_tokens, cost_usd) VALUES ({marks}) ON CONFLICT (hour, workflow, provider, model) DO UPDATE SET "
        "calls = llm_cost_hourly.calls + excluded.calls, "
        "failed_calls = llm_cost_hourly.failed_calls + excluded.failed_calls, "
        "input_tokens = llm_cost_hourly.input_tokens + excluded.input_tokens, "
        "output_tokens = llm_cost_hourly.output_tokens + excluded.output_tokens, "
        "cost_usd = llm_cost_hourly.cost_usd + excluded.cost_usd"
    ),
    "workflow_runs_hourly": (
        "INSERT INTO workflow_runs_hourly (hour, workflow, version, runs, successes, duration_sum) VALUES ({marks}) "
        "ON CONFLICT (hour, workflow, version) DO UPDATE SET runs = workflow_runs_hourly.runs + excluded.runs, "
        "successes = workflow_runs_hourly.successes + excluded.successes, "
        "duration_sum = workflow_runs_hourly.duration_sum + excluded.duration_sum"
    ),
}


def rollup_deltas(rows: Iterable[Row]) -> dict[str, list[tuple[Any, ...]]]:
    """What a batch adds to each hourly rollup row (each row is written once, so the sums are additive)."""
    cost: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    runs: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for row in rows:
        hour = row.ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        if isinstance(row, LlmCallRow):
            acc = cost[(hour, row.workflow, row.provider, row.model)]
            acc[0] += 1
            acc[1] += row.status != "success"
            acc[2] += row.input_tokens
            acc[3] += row.output_tokens
            acc[4] += row.cost_usd
        elif isinstance(row, WorkflowRunRow):
            acc = runs[(hour, row.workflow, row.version)]
            acc[0] += 1
            acc[1] += row.status == "success"
            acc[2] += row.duration_s
    return {
        "llm_cost_hourly": [(*key, *values) for key, values in cost.items()],
        "workflow_runs_hourly": [(*key, *values) for key, values in runs.items()],
    }


_PLACEHOLDER = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


def to_pyformat(query: str) -> str:
    """``:name`` placeholders to psycopg's ``%(name)s`` (queries are written once for both dialects)."""
    return _PLACEHOLDER.sub(r"%(\1)s", query.replace("%", "%%"))


class PostgresStore:
    """Analytics tables in Postgres; one connection, used by the writer thread or a report."""

    dialect: Dialect = "postgres"

    def __init__(self, url: str, *, connect_timeout_s: float = 3.0) -> None:
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self.timescale = False
        self._conn: psycopg.Connection[Any] | None = None
        self._partitions: set[str] = set()
        self._lock = threading.Lock()

    def _connect(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=int(self.connect_timeout_s))
                # A report over N daily partitions JIT-compiles each one: seconds at 30 partitions, more than the
                # query itself takes. These connections only append rows and run reports.
                self._conn.execute("SET jit = off")
            except psycopg.OperationalError as exc:
                raise StoreUnavailableError(f"analytics store {redact_url(self.url)}: {exc}") from exc
        return self._conn

    def timescale_available(self) -> bool:
        """Whether the TimescaleDB extension can be used (installed or installable) on this server."""
        row = (
            self._connect()
            .execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'")
            .fetchone()
        )
        return bool(row and row[0])

    def migrate(self) -> None:
        """Apply the migrations not yet applied; TimescaleDB's flavour when the extension is available."""
        with self._lock:
            conn = self._connect()
            conn.execute(
                "CREATE TABLE IF NOT EXISTS analytics_migrations (version integer PRIMARY KEY, flavour text NOT NULL, "
                "applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r[0]: r[1] for r in conn.execute("SELECT version, flavour FROM analytics_migrations").fetchall()}
            flavour = next(iter(done.values()), None) or ("timescale" if self.timescale_available() else "postgres")
            self.timescale = flavour == "timescale"
            for version, path in migration_files(flavour):
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(path.read_text())
                    conn.execute(
                        "INSERT INTO analytics_migrations (version, flavour) VALUES (%s, %s)", (version, flavour)
                    )
                logger.info("analytics migration %s (%s) applied", path.name, flavour)

    def ensure_partitions(self, days: Iterable[date]) -> None:
        """Create the daily partitions ``days`` need (a no-op on TimescaleDB, which makes its own chunks)."""
        if self.timescale:
            return
        conn = self._connect()
        for day in sorted(set(days)):
            for table in PARTITIONED:
                name = f"{table}_p{day:%Y%m%d}"
                if name in self._partitions:
                    continue
                conn.execute(
                    sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                        sql.Identifier(name), sql.Identifier(table),
                        sql.Literal(f"{day:%Y-%m-%d} 00:00:00+00"),
                        sql.Literal(f"{day + timedelta(days=1):%Y-%m-%d} 00:00:00+00"),
                    )
                )  # fmt: skip
                self._partitions.add(name)

    def write(self, rows: Sequence[Row]) -> None:
        """Append ``rows`` with COPY, then refresh the hourly rollups for the hours they touch."""
        by_table = group_by_table(rows)
        with self._lock:
            try:
                conn = self._connect()
                self.ensure_partitions(row.ts.astimezone(UTC).date() for row in rows)
                with conn.transaction(), conn.cursor() as cur:
                    for table, batch in by_table.items():
                        names = columns(ROW_TYPES[table])
                        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, names))
                        )
                        with cur.copy(statement) as copy:
                            for row in batch:
                                copy.write_row([getattr(row, n) for n in names])
                    if not self.timescale:
                        for table, deltas in rollup_deltas(rows).items():
                            if deltas:
                                marks = ", ".join(["%s"] * len(deltas[0]))
                                cur.executemany(ROLLUP_UPSERT[table].format(marks=marks), deltas)
            except psycopg.OperationalError as exc:
                if self._conn is not None:
                    self._conn.close()
                raise StoreUnavailableError(f"analytics store {redact_url(self.url)}: {exc}") from exc
            except (psycopg.DataError, psycopg.IntegrityError, TypeError, ValueError) as exc:
                raise RowsRejectedError(f"analytics store refused {len(rows)} rows: {exc}") from exc

    def fetch(self, query: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run a report query (``:name`` placeholders, values always bound as parameters)."""
        with self._lock:
            try:
                return list(self._connect().execute(to_pyformat(query), params).fetchall())
            except psycopg.OperationalError as exc:
                raise StoreUnavailableError(f"analytics store {redact_url(self.url)}: {exc}") from exc

    def apply_retention(self, keep_days: int, today: date | None = None) -> list[str]:
        """Drop daily partitions older than ``keep_days``; returns the dropped names."""
        cutoff = (today or datetime.now(UTC).date()) - timedelta(days=keep_days)
        with self._lock:
            conn = self._connect()
            if self.timescale:
                for table in PARTITIONED:
                    conn.execute("SELECT drop_chunks(%s, older_than => %s::timestamptz)", (table, cutoff))
                return []
            rows = conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY(%s)",
                (list(PARTITIONED),),
            ).fetchall()
            dropped = []
            for (name,) in rows:
                stamp = name.rsplit("_p", 1)[-1]
                if stamp.isdigit() and datetime.strptime(stamp, "%Y%m%d").date() < cutoff:
                    conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
                    self._partitions.discard(name)
                    dropped.append(name)
            return sorted(dropped)

    def refresh_statistics(self) -> None:
        """ANALYZE the partitioned parents.

        Autovacuum analyzes partitions but never a partitioned parent, and the raw reports' group-count
        estimates come from the parent's (extended) statistics.
        """
        with self._lock:
            try:
                conn = self._connect()
                for table in PARTITIONED:
                    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
            except psycopg.OperationalError as exc:
                raise StoreUnavailableError(f"analytics store {redact_url(self.url)}: {exc}") from exc

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
