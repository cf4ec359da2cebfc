"""The session-end check finds a marked process, even a grandchild in a session of its own, and kills it."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

from tests.support.processes import MARK_VARIABLE, marked_processes, reap_leftovers


def test_a_marked_grandchild_in_its_own_session_is_found_and_killed() -> None:
    mark = uuid.uuid4().hex  # not the session's own marker: the session check must not see this test's child
    env = {**os.environ, MARK_VARIABLE: mark}
    parent = subprocess.Popen(["setsid", "sleep", "60"], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        # setsid forks (its parent, our child, is a group leader) and the fork becomes ``sleep``
        while (commands := [c for _, c in marked_processes(mark)]) != ["sleep 60"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert commands == ["sleep 60"]
        killed = reap_leftovers(mark, None, grace_s=0)
        assert [command for _, command in killed] == ["sleep 60"]
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10  # SIGKILL is delivered asynchronously: on a loaded machine it takes a moment
        while marked_processes(mark) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marked_processes(mark) == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)


def test_a_process_that_rewrote_its_environ_is_found_by_its_working_directory(tmp_path: Path) -> None:
    """Airflow's api-server and scheduler call setproctitle, which hides the marker in /proc/<pid>/environ."""
    mark = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if k != MARK_VARIABLE}  # as if setproctitle had wiped it
    child = subprocess.Popen(["sleep", "60"], env=env, cwd=tmp_path, start_new_session=True)
    try:
        assert marked_processes(mark) == []
        deadline = time.monotonic() + 10
        while not (found := marked_processes(mark, tmp_path.resolve())) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [pid for pid, _ in found] == [child.pid]
        assert [pid for pid, _ in reap_leftovers(mark, tmp_path.resolve(), grace_s=0)] == [child.pid]
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
