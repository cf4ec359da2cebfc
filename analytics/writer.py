"""Rows are queued in memory and written in batches by a background thread, never on a workflow's path.

Every row ends in exactly one of these, each counted in a metric:

* written to the store (``tradeflow_analytics_rows_written_total{table}``);
* spilled to a local file while the store is unreachable (``..._rows_spilled_total``), and written when any
  writer replays that file (see :mod:`analytics.spill`: files of crashed processes too);
* quarantined with the reason, when the store refuses the row itself (a constraint, a value it cannot
  store) or writing it fails in a way that is not an outage (``..._rows_quarantined_total{table,reason}``):
  the batch is split until the refused rows are isolated, so one bad row never blocks the rest and is never
  retried for ever;
* dropped (``..._rows_dropped_total{table,reason}``) only when the queue and the spill file are both full,
  the disk refuses the quarantine too, or a spill line cannot be read back.

``close()`` flushes.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from analytics.errors import RowsRejectedError, StoreUnavailableError
from analytics.metrics import Metrics
from analytics.rows import Row
from analytics.spill import Quarantine, SpillFile, replay_directory
from analytics.store import Store

logger = logging.getLogger(__name__)


class RowWriter:
    """Bounded queue + background flusher + spill directory + quarantine."""

    def __init__(
        self,
        store_factory: Callable[[], Store],
        metrics: Metrics,
        *,
        spill_dir: Path,
        quarantine_dir: Path | None = None,
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
        self.spill_dir = spill_dir
        self._spill = SpillFile(spill_dir)
        self._quarantine = Quarantine(quarantine_dir or spill_dir.parent / "analytics-quarantine")
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
            self.metrics.rows_dropped.labels(row.table, "queue_full").inc()
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
                self._spill.release()  # the store answers: this writer's own spill file is replayable now
                written += replay_directory(self.spill_dir, lambda rows: self._write(store, rows), self.batch_size,
                                            self._lost_in_spill)  # fmt: skip
                while self._queue:
                    batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
                    try:
                        written += self._write(store, batch)
                    except StoreUnavailableError:
                        self._queue.extendleft(reversed(batch))
                        raise
                self._outage_since = None
            except StoreUnavailableError as exc:
                now = time.monotonic()
                if self._outage_since is None:
                    self._outage_since = now
                    logger.warning("analytics store unreachable; rows wait in memory: %s", exc)
                if now - self._outage_since >= self.spill_after_s or len(self._queue) >= self.max_queue // 2:
                    self._spill_queue()
        return written

    def _write(self, store: Store, batch: list[Row]) -> int:
        """Write ``batch``; rows the store refuses are isolated and quarantined. Returns rows written.

        Raises :class:`StoreUnavailableError` (an outage) with nothing of ``batch`` quarantined: the caller puts
        it back. Rows written before the outage in a split batch may be written again (at-least-once).
        """
        try:
            store.write(batch)
        except StoreUnavailableError:
            raise
        except RowsRejectedError as exc:
            return self._isolate(store, batch, exc)
        except Exception as exc:
            # Not an outage and not a refusal the store recognised (a driver or serialisation bug): the rows
            # are isolated and kept in quarantine with the error, rather than dropped or retried for ever.
            logger.exception("analytics store failed to write %d rows", len(batch))
            return self._isolate(store, batch, exc)
        self._count(batch)
        return len(batch)

    def _isolate(self, store: Store, batch: list[Row], error: Exception) -> int:
        if len(batch) == 1:
            self._put_in_quarantine(batch[0], error)
            return 0
        middle = len(batch) // 2
        return self._write(store, batch[:middle]) + self._write(store, batch[middle:])

    def _put_in_quarantine(self, row: Row, error: Exception) -> None:
        reason = type(error.__cause__ or error).__name__
        try:
            self._quarantine.put(row, f"{reason}: {error}")
        except OSError:
            logger.exception("analytics quarantine unwritable; row of %s dropped", row.table)
            self.metrics.rows_dropped.labels(row.table, "quarantine_unwritable").inc()
            return
        self.metrics.rows_quarantined.labels(row.table, reason).inc()
        logger.warning("analytics store refused a %s row (%s); quarantined", row.table, reason)

    def _lost_in_spill(self, count: int) -> None:
        self.metrics.rows_dropped.labels("unknown", "unreadable_spill").inc(count)

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

    def _spill_queue(self) -> None:
        room = self.max_spill_rows - self._spill.rows
        if room <= 0 or not self._queue:
            return
        moved = [self._queue.popleft() for _ in range(min(room, len(self._queue)))]
        try:
            self._spill.append(moved)
        except OSError:
            self._queue.extendleft(reversed(moved))
            logger.exception("analytics spill file unwritable; rows stay in memory")
            return
        self.metrics.rows_spilled.inc(len(moved))
        logger.warning("analytics store still unreachable; %d rows spilled to %s", len(moved), self._spill.path)

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
        while self._queue:  # the spill file is full too: what is left is dropped, and counted
            self.metrics.rows_dropped.labels(self._queue.popleft().table, "spill_full").inc()
        self._spill.release()
        if self._store is not None:
            self._store.close()
