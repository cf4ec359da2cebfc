"""The session-end check finds a marked process, even a grandchild in a session of its own, and kills it."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

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
        killed = reap_leftovers(mark, grace_s=0)
        assert [command for _, command in killed] == ["sleep 60"]
        parent.wait(timeout=10)
        assert marked_processes(mark) == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)
