"""Rows kept on local disk: spill files while the store is down, quarantine for rows the store refuses.

Spill files live in one directory shared by every process of a deployment (``analytics-spill/`` under the
data directory). Each writer appends to a file of its own, named by process id and a random suffix, and
holds an exclusive ``flock`` on it while it appends. Any writer replays every file it can lock: its own
once the outage is over, and a crashed process's file (whose lock died with it) on its next start. Replay
streams the file in batches and records the byte offset reached in a ``.offset`` file after each batch, so an
outage or crash mid-replay resumes there and the work is linear in the file's size. Delivery is at least once:
only a crash between writing a batch and recording its offset writes that one batch again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from analytics.rows import Row, row_from_dict, row_to_dict

logger = logging.getLogger(__name__)

SPILL_SUFFIX = ".jsonl"
OFFSET_SUFFIX = ".offset"


class SpillFile:
    """The file this writer appends to during an outage (opened and locked on first use)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / f"rows-{os.getpid()}-{uuid.uuid4().hex[:8]}{SPILL_SUFFIX}"
        self._handle: IO[str] | None = None
        self.rows = 0

    def append(self, rows: Sequence[Row]) -> None:
        """Append ``rows`` and flush them to the OS (they survive this process)."""
        if self._handle is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Created and locked under a name replay does not list, then renamed: a replayer can never lock (and
            # remove) the file between its creation and this writer's lock, which would orphan what follows.
            hidden = self.path.with_name(f".{self.path.name}.new")
            handle = hidden.open("a")
            fcntl.flock(handle, fcntl.LOCK_EX)
            hidden.rename(self.path)
            self._handle = handle
        self._handle.write("".join(json.dumps(row_to_dict(row), default=str) + "\n" for row in rows))
        self._handle.flush()
        self.rows += len(rows)

    def release(self) -> None:
        """Close and unlock the file so that any writer (this one included) can replay it."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self.path = self.directory / f"rows-{os.getpid()}-{uuid.uuid4().hex[:8]}{SPILL_SUFFIX}"
            self.rows = 0


@contextlib.contextmanager
def _claimed(path: Path) -> Iterator[IO[bytes] | None]:
    """The spill file opened and exclusively locked, or None when another live writer holds it (or it is gone)."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        yield None
        return
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        try:
            same = os.fstat(handle.fileno()).st_ino == path.stat().st_ino
        except FileNotFoundError:
            same = False  # replayed and removed by another writer between listing and locking
        yield handle if same else None
    finally:
        handle.close()


def _read_offset(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def replay_directory(
    directory: Path, write: Callable[[list[Row]], object], batch_size: int, on_lost: Callable[[int], None]
) -> int:
    """Replay every spill file no live writer holds; returns the rows written.

    ``write`` raises to stop (the store went away again): what was written so far stays recorded in the
    offset file, and the rest is replayed next time. ``on_lost`` is told how many lines of a file could not
    be read back (torn by a crash mid-write, or corrupted).
    """
    if not directory.is_dir():
        return 0
    written = 0
    for hidden in directory.glob(f".*{SPILL_SUFFIX}.new"):
        with _claimed(hidden) as handle:
            if handle is not None:
                hidden.unlink()  # a writer died between creating its file and naming it: nothing was written to it
    for offset_path in directory.glob(f"*{OFFSET_SUFFIX}"):
        if not offset_path.with_suffix(SPILL_SUFFIX).exists():
            offset_path.unlink(missing_ok=True)  # the data file was replayed; a crash left its offset behind
    for path in sorted(directory.glob(f"*{SPILL_SUFFIX}")):
        with _claimed(path) as handle:
            if handle is None:
                continue
            written += _replay_file(path, handle, write, batch_size, on_lost)
    return written


def _replay_file(
    path: Path, handle: IO[bytes], write: Callable[[list[Row]], object], batch_size: int, on_lost: Callable[[int], None]
) -> int:
    offset_path = path.with_suffix(OFFSET_SUFFIX)
    handle.seek(_read_offset(offset_path))
    written = lost = 0
    batch: list[Row] = []
    for line in iter(handle.readline, b""):
        if not line.strip():
            continue
        try:
            if not line.endswith(b"\n"):
                raise ValueError("torn line")  # the writer died mid-write; a complete line always ends in \n
            batch.append(row_from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            lost += 1
            continue
        if len(batch) >= batch_size:
            write(batch)
            written += len(batch)
            batch = []
            offset_path.write_text(str(handle.tell()))
    if batch:
        write(batch)
        written += len(batch)
        offset_path.write_text(str(handle.tell()))  # a crash before the unlink below then writes nothing twice
    path.unlink()
    offset_path.unlink(missing_ok=True)
    if lost:
        logger.warning("%d lines of spill file %s could not be read back", lost, path.name)
        on_lost(lost)
    logger.info("replayed %d spilled analytics rows from %s", written, path.name)
    return written


def count_rows(directory: Path) -> int:
    """Rows waiting in every spill file of ``directory`` (for status; reads the files)."""
    total = 0
    for path in directory.glob(f"*{SPILL_SUFFIX}") if directory.is_dir() else ():
        with path.open("rb") as spill:
            spill.seek(_read_offset(path.with_suffix(OFFSET_SUFFIX)))
            total += sum(1 for line in spill if line.strip())
    return total


class Quarantine:
    """Rows the store refused, one JSON line each with the reason, for a person to inspect and re-load."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, row: Row, reason: str) -> None:
        """Keep ``row`` with ``reason``; raises OSError when the disk refuses too."""
        self.directory.mkdir(parents=True, exist_ok=True)
        entry = {"quarantined_at": datetime.now(UTC).isoformat(), "reason": reason, "row": row_to_dict(row)}
        with (self.directory / f"{row.table}{SPILL_SUFFIX}").open("a") as out:
            out.write(json.dumps(entry, default=str) + "\n")
