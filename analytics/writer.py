"""Rows are queued in memory and written in batches by a background thread, never on a workflow's path.

If the store is unreachable, rows wait in the queue; once the outage lasts ``spill_after_s`` (or the queue is
half full) they go to a local spill file, replayed first when the store is back. Rows are dropped only when
the queue and the spill file are both full, and each drop is counted in a metric. ``close()`` flushes.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from analytics.errors import StoreUnavailableError
from analytics.metrics import Metrics
from analytics.rows import Row, row_from_dict, row_to_dict
from analytics.store import Store

logger = logging.getLogger(__name__)


class RowWriter:
    """Bounded queue + background flusher + spill file."""

    def __init__(
        self,
        store_factory: Callable[[], Store],
        metrics: Metrics,
        *,
        spill_path: Path,
        max_queue: int = 100_000,
        batch_size: int = 2_000,
        interval_s: float = 1.0,
        spill_after_s: float = 5.0,
        max_spill_rows: int = 1_000_000,
        retention_days: int | None = None,
        maintenance_every_s: float = 6 * 3600,
    ) -> None:
        self._store_factory = store_factory
        self._store: Store | None = None
        self.metrics = metrics
        self.spill_path = spill_path
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.spill_after_s = spill_after_s
        self.max_spill_rows = max_spill_rows
        self.retention_days = retention_days
        self.maintenance_every_s = maintenance_every_s
        self._maintenance_due = 0.0
        self._queue: deque[Row] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._flush_lock = threading.Lock()
        self._outage_since: float | None = None
        self._spilled = self._count_spilled()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._sources: list[Callable[[], object]] = []

    def add_source(self, drain: Callable[[], object]) -> None:
        """Call ``drain`` at the start of every flush (a producer that batches its rows, e.g. the handler)."""
        self._sources.append(drain)

    # --- hot path ---------------------------------------------------------------------------------
    def enqueue(self, row: Row) -> None:
        """Queue one row (no I/O); drops and counts it when the queue is full."""
        if len(self._queue) >= self.max_queue:
            self.metrics.rows_dropped.labels(row.table).inc()
            return
        self._queue.append(row)
        if self._thread is None:
            self._start()
        if len(self._queue) >= self.batch_size:
            self._wake.set()

    # --- background ---------------------------------------------------------------------------------
    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="analytics-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                # The writer must outlive any one failure (a bad migration, a driver bug): rows stay queued
                # and the next interval tries again; the error is logged, not swallowed.
                logger.exception("analytics writer failed; retrying at the next interval")

    def _store_ready(self) -> Store:
        if self._store is None:
            store = self._store_factory()
            store.migrate()
            self._store = store
        return self._store

    def flush(self) -> int:
        """Write everything queued (and any spilled rows) now; returns rows written."""
        for drain in self._sources:
            drain()
        written = 0
        with self._flush_lock:
            try:
                store = self._store_ready()
                self._maintain(store)
                written += self._replay(store)
                while self._queue:
                    batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
                    try:
                        store.write(batch)
                    except StoreUnavailableError:
                        self._queue.extendleft(reversed(batch))
                        raise
                    self._count(batch)
                    written += len(batch)
                self._outage_since = None
            except StoreUnavailableError as exc:
                now = time.monotonic()
                if self._outage_since is None:
                    self._outage_since = now
                    logger.warning("analytics store unreachable; rows wait in memory: %s", exc)
                if now - self._outage_since >= self.spill_after_s or len(self._queue) >= self.max_queue // 2:
                    self._spill()
        return written

    def _maintain(self, store: Store) -> None:
        """At start and then every ``maintenance_every_s``: drop data past retention, refresh planner statistics."""
        if time.monotonic() < self._maintenance_due:
            return
        try:
            if self.retention_days is not None:
                dropped = store.apply_retention(self.retention_days)
                if dropped:
                    logger.info("analytics retention dropped %d partitions: %s", len(dropped), ", ".join(dropped))
            store.refresh_statistics()
        except StoreUnavailableError:
            raise  # an outage: rows wait, and maintenance runs once the store is back
        except Exception:
            # e.g. a role that may write rows but not drop partitions: writing must go on regardless
            logger.exception("analytics maintenance failed; next try in %.0f s", self.maintenance_every_s)
        self._maintenance_due = time.monotonic() + self.maintenance_every_s

    def _count(self, batch: list[Row]) -> None:
        for table, count in collections.Counter(row.table for row in batch).items():
            self.metrics.rows_written.labels(table).inc(count)

    def _spill(self) -> None:
        room = self.max_spill_rows - self._spilled
        if room <= 0 or not self._queue:
            return
        self.spill_path.parent.mkdir(parents=True, exist_ok=True)
        moved = 0
        with self.spill_path.open("a") as spill:
            while self._queue and moved < room:
                spill.write(json.dumps(row_to_dict(self._queue.popleft()), default=str) + "\n")
                moved += 1
        self._spilled += moved
        self.metrics.rows_spilled.inc(moved)
        logger.warning("analytics store still unreachable; %d rows spilled to %s", moved, self.spill_path)

    def _replay(self, store: Store) -> int:
        if not self._spilled or not self.spill_path.exists():
            return 0
        lines = [line for line in self.spill_path.read_text().splitlines() if line.strip()]
        rows = [row_from_dict(json.loads(line)) for line in lines]
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start : start + self.batch_size]
            store.write(batch)
            self._count(batch)
            # Keep only what is still unwritten, so an outage mid-replay never writes a row twice.
            remaining = lines[start + self.batch_size :]
            self.spill_path.write_text("".join(line + "\n" for line in remaining))
            self._spilled = len(remaining)
        self.spill_path.unlink()
        self._spilled = 0
        logger.info("replayed %d spilled analytics rows", len(rows))
        return len(rows)

    def _count_spilled(self) -> int:
        if not self.spill_path.exists():
            return 0
        with self.spill_path.open() as spill:
            return sum(1 for line in spill if line.strip())

    @property
    def pending(self) -> int:
        """Rows queued in memory."""
        return len(self._queue)

    def close(self) -> None:
        """Stop the flusher and write what is queued (spilling it if the store is down)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()
        if self._queue:
            self._outage_since = float("-inf")
            self.flush()
        if self._store is not None:
            self._store.close()
