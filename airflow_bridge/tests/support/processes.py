"""Every process the bridge tests start is gone when the session ends: a check that fails the run on leftovers.

The session puts a marker in its environment at import of ``tests/conftest.py``, before anything starts;
every process the tests start (``langgraph dev``, the LLM double, ``airflow api-server``, ``airflow
dag-processor``, ``airflow scheduler``, ...) gets ``{**os.environ, ...}`` and so inherits it, and so do their
children, even those that start a session of their own. At the end any live process carrying the marker is a
leftover: it is killed, named, and the run fails. The same check as the root suite's
``tests/support/processes.py``, under its own variable so the two suites never see each other's processes.

Airflow's own processes (api-server, scheduler, dag-processor) call ``setproctitle``, which writes the title
over the memory ``/proc/<pid>/environ`` shows, so the marker vanishes from there: a process whose working
directory is inside the session's temporary ``AIRFLOW_HOME`` (where the tests start them) counts as marked too.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

MARK_VARIABLE = "TRADEFLOW_BRIDGE_TEST_SESSION"


def _inside(proc: Path, root: Path | None) -> bool:
    if root is None:
        return False
    try:
        cwd = os.readlink(proc / "cwd")
    except OSError:
        return False
    # the session removes its AIRFLOW_HOME before this check: the kernel then shows "<path> (deleted)"
    return Path(cwd.removesuffix(" (deleted)")).is_relative_to(root)


def marked_processes(mark: str, root: Path | None = None) -> list[tuple[int, str]]:
    """(pid, command line) of every live process (zombies aside) whose environment carries ``mark``, or
    whose working directory is inside ``root``."""
    needle = f"{MARK_VARIABLE}={mark}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle not in (proc / "environ").read_bytes().split(b"\0") and not _inside(proc, root):
                continue
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                continue  # exited, waiting for its parent to reap it
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        found.append((int(proc.name), command))
    return found


def reap_leftovers(mark: str, root: Path | None = None, grace_s: float = 10.0) -> list[tuple[int, str]]:
    """Wait ``grace_s`` for marked processes to exit; kill the rest and return what had to be killed."""
    deadline = time.monotonic() + grace_s
    while (left := marked_processes(mark, root)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left
