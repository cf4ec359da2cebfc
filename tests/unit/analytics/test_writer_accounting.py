"""Every row the writer is given ends written, spilled (then replayed), quarantined or counted as dropped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from analytics.errors import StoreUnavailableError
from analytics.metrics import Metrics
from analytics.rows import Row, WorkflowRunRow, row_to_dict
from analytics.sqlite_store import SqliteStore
from analytics.writer import RowWriter


def _rows(n: int, start: int = 0) -> list[Row]:
    now = datetime.now(UTC)
    return [WorkflowRunRow(now, f"r{i}", None, "w", "v1", "success", 0.5, None) for i in range(start, start + n)]


def _sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def _count(path: Path) -> int:
    return int(SqliteStore(path).fetch("SELECT count(*) FROM workflow_runs", {})[0][0])


def test_rows_the_store_refuses_are_quarantined_and_never_block_the_rest(tmp_path: Path) -> None:
    """Regression: a batch failing with anything but StoreUnavailableError was logged and dropped, counted nowhere
    (100 of 250 rows vanished)."""
    metrics = Metrics(CollectorRegistry())
    db = tmp_path / "a.sqlite"
    writer = RowWriter(lambda: SqliteStore(db), metrics, spill_dir=tmp_path / "spill", batch_size=100)
    rows = _rows(250)
    for i in (7, 130, 131, 249):
        rows[i].workflow = None  # type: ignore[assignment]  # NOT NULL: the store refuses these four
    for row in rows:
        writer.enqueue(row)
    writer.close()
    assert _count(db) == 246
    assert _sample(metrics, "tradeflow_analytics_rows_written_total", table="workflow_runs") == 246
    assert _sample(metrics, "tradeflow_analytics_rows_quarantined_total", table="workflow_runs",
                   reason="IntegrityError") == 4  # fmt: skip
    lines = (tmp_path / "analytics-quarantine" / "workflow_runs.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["row"]["run_id"] for line in lines) == ["r130", "r131", "r249", "r7"]
    assert all("NOT NULL" in json.loads(line)["reason"] for line in lines)


class BuggyStore(SqliteStore):
    """A real store whose driver fails, not with an outage, on rows of one workflow (a bug, say)."""

    def write(self, rows):  # type: ignore[no-untyped-def]
        if any(r.workflow == "poison" for r in rows):
            raise RuntimeError("driver bug")
        super().write(rows)


def test_an_unexpected_store_error_isolates_the_rows_instead_of_dropping_the_batch(tmp_path: Path) -> None:
    metrics = Metrics(CollectorRegistry())
    db = tmp_path / "a.sqlite"
    writer = RowWriter(lambda: BuggyStore(db), metrics, spill_dir=tmp_path / "spill", batch_size=64)
    rows = _rows(200)
    rows[42].workflow = "poison"
    for row in rows:
        writer.enqueue(row)
    writer.flush()
    writer.flush()  # nothing is retried for ever: a second flush has nothing left to do
    writer.close()
    assert _count(db) == 199
    assert _sample(metrics, "tradeflow_analytics_rows_quarantined_total", table="workflow_runs",
                   reason="RuntimeError") == 1  # fmt: skip


class FlakyStore(SqliteStore):
    """A real SQLite store that is unreachable while ``down``, or after ``fail_after`` more batches."""

    down = False
    fail_after: int | None = None

    def write(self, rows):  # type: ignore[no-untyped-def]
        if self.fail_after is not None:
            if self.fail_after == 0:
                raise StoreUnavailableError("store went away")
            self.fail_after -= 1
        if self.down:
            raise StoreUnavailableError("store down")
        super().write(rows)


def _spill_file(directory: Path, rows: list[Row], name: str = "rows-99999-deadbeef.jsonl") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("".join(json.dumps(row_to_dict(r), default=str) + "\n" for r in rows))
    return path


def test_a_crashed_process_spill_file_is_replayed_on_the_next_start(tmp_path: Path) -> None:
    """Regression: spill files were named by PID, so after a restart the old file was never replayed."""
    spill = tmp_path / "spill"
    path = _spill_file(spill, _rows(300))
    path.write_text(path.read_text() + '{"_table": "workflow_runs", "ts": "2026-')  # torn by the crash
    metrics = Metrics(CollectorRegistry())
    db = tmp_path / "a.sqlite"
    writer = RowWriter(lambda: SqliteStore(db), metrics, spill_dir=spill, batch_size=100)
    writer.flush()
    writer.close()
    assert _count(db) == 300
    assert list(spill.iterdir()) == []
    assert _sample(metrics, "tradeflow_analytics_rows_dropped_total", table="unknown", reason="unreadable_spill") == 1


def test_replay_streams_and_resumes_where_an_outage_stopped_it_without_duplicates(tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    _spill_file(spill, _rows(1000))
    db = tmp_path / "a.sqlite"
    store = FlakyStore(db)
    store.fail_after = 3  # three batches of 100, then the store goes away mid-replay
    writer = RowWriter(lambda: store, Metrics(CollectorRegistry()), spill_dir=spill, batch_size=100)
    writer.flush()
    assert _count(db) == 300
    assert (spill / "rows-99999-deadbeef.offset").exists()
    store.fail_after = None
    writer.flush()
    writer.close()
    assert _count(db) == 1000
    assert SqliteStore(db).fetch("SELECT count(DISTINCT run_id) FROM workflow_runs", {}) == [(1000,)]


def test_a_live_writers_spill_file_is_left_to_it(tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    db = tmp_path / "a.sqlite"
    down = FlakyStore(db)
    down.down = True
    metrics = Metrics(CollectorRegistry())
    owner = RowWriter(lambda: down, metrics, spill_dir=spill, spill_after_s=0.0, batch_size=50)
    owner._start = lambda: None  # type: ignore[method-assign]  # drive the flusher by hand
    for row in _rows(80):
        owner.enqueue(row)
    owner.flush()  # spilled, file locked by the owner
    # Another process (its own writer, a store that works) must not take the file while its owner lives.
    script = textwrap.dedent(f"""
        from pathlib import Path
        from prometheus_client import CollectorRegistry
        from analytics.metrics import Metrics
        from analytics.sqlite_store import SqliteStore
        from analytics.writer import RowWriter
        writer = RowWriter(lambda: SqliteStore(Path({str(db)!r})), Metrics(CollectorRegistry()),
                           spill_dir=Path({str(spill)!r}))
        print(writer.flush())
    """)
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                           cwd=Path(__file__).resolve().parents[3], env={**os.environ})  # fmt: skip
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == "0"
    assert _count(db) == 0
    down.down = False
    owner.flush()  # the store is back: the owner releases its file and replays it
    owner.close()
    assert _count(db) == 80
    assert list(spill.iterdir()) == []


def test_a_spill_file_is_locked_before_replay_can_see_it(tmp_path: Path) -> None:
    """Regression: the file was created, then locked; a replayer in between could take it, replay nothing and
    unlink it, and the writer's rows went to an orphaned file while counted as spilled."""
    from analytics.spill import SpillFile, _claimed

    spill = SpillFile(tmp_path / "spill")
    spill.append(_rows(3))
    visible = list((tmp_path / "spill").glob("*.jsonl"))
    assert visible == [spill.path]
    with _claimed(spill.path) as handle:  # another open file description: flock refuses it
        assert handle is None
    assert list((tmp_path / "spill").glob(".*")) == []
    spill.release()
    with _claimed(visible[0]) as handle:
        assert handle is not None


def test_a_crash_after_the_last_batch_writes_nothing_twice(tmp_path: Path) -> None:
    from analytics.spill import replay_directory

    spill = tmp_path / "spill"
    _spill_file(spill, _rows(250))
    written: list[Row] = []

    def crash_before_unlink(batch: list[Row]) -> None:
        written.extend(batch)

    real_unlink = Path.unlink
    calls = {"n": 0}

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self.suffix == ".jsonl" and calls["n"] == 0:
            calls["n"] += 1
            raise OSError("crash")
        real_unlink(self, missing_ok=missing_ok)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "unlink", unlink)
        with pytest.raises(OSError, match="crash"):
            replay_directory(spill, crash_before_unlink, 100, lambda n: None)
    assert len(written) == 250
    assert replay_directory(spill, crash_before_unlink, 100, lambda n: None) == 0
    assert len(written) == 250
    assert list(spill.iterdir()) == []
