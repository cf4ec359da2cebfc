"""Every process the test session starts is gone when it ends: a check that fails the session on leftovers.

The session puts a marker in its environment before any test runs; every process a test starts inherits it
(tests pass ``{**os.environ, ...}``), and so do their children, even those that start a session of their own.
At the end, any process still carrying the marker is a leftover: it is killed, named, and the run fails.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

MARK_VARIABLE = "TRADEFLOW_TEST_SESSION"


def marked_processes(mark: str) -> list[tuple[int, str]]:
    """(pid, command line) of every live process whose environment carries ``mark``."""
    needle = f"{MARK_VARIABLE}={mark}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                continue  # exited, waiting for its parent to reap it
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        found.append((int(proc.name), command))
    return found


def reap_leftovers(mark: str, grace_s: float = 10.0) -> list[tuple[int, str]]:
    """Wait ``grace_s`` for marked processes to exit; kill the rest and return what had to be killed."""
    deadline = time.monotonic() + grace_s
    while (left := marked_processes(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left
