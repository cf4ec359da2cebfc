"""Benchmark clients in processes of their own, driven in interleaved rounds.

Each worker reads a count from stdin, makes that many calls or runs, and answers one JSON line; a worker says
``ready`` once warmed up. Rounds rotate which worker goes first, so the machine's other load falls on each alike.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any


def wait_ready(workers: dict[str, subprocess.Popen[str]]) -> None:
    """Block until every worker has said ``ready``."""
    for worker in workers.values():
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready"


def interleaved_rounds(workers: dict[str, subprocess.Popen[str]], rounds: int, per_round: int) -> dict[str, list[Any]]:
    """Each worker's answers, one per round, ``per_round`` calls each; who goes first rotates."""
    names = list(workers)
    answers: dict[str, list[Any]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            worker = workers[name]
            assert worker.stdin is not None
            assert worker.stdout is not None
            worker.stdin.write(f"{per_round}\n")
            worker.stdin.flush()
            answers[name].append(json.loads(worker.stdout.readline()))
    return answers
