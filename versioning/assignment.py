r"""Sticky, deterministic A/B assignment: a salted hash of the unit key into 10,000 buckets.

``bucket(salt, unit)`` is SHA-256 of ``salt + '\\x1f' + unit``, its first 8 bytes big-endian, modulo
10,000: the same in every process and every release (tests pin golden vectors). Buckets are allocated to
arms in contiguous ranges; when weights change, only the buckets an arm must give up move, so units already
in an arm that keeps or grows its share stay where they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

BUCKETS = 10_000
Allocation = list[tuple[int, int, int]]
"""Runs of buckets: (arm index, first bucket, end bucket exclusive)."""


def bucket(salt: str, unit_key: str) -> int:
    """The unit's bucket, 0 to 9,999."""
    digest = hashlib.sha256(f"{salt}\x1f{unit_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def bucket_counts(weights: Sequence[float]) -> list[int]:
    """Buckets per arm: weights x 10,000, rounded by largest remainder so they sum to 10,000."""
    raw = [w * BUCKETS for w in weights]
    counts = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[: BUCKETS - sum(counts)]:
        counts[i] += 1
    return counts


def allocate(weights: Sequence[float], previous: Sequence[int] | None = None) -> list[int]:
    """Arm index per bucket; with ``previous``, move as few buckets as the new weights need."""
    targets = bucket_counts(weights)
    if previous is None:
        table: list[int] = []
        for arm, count in enumerate(targets):
            table.extend([arm] * count)
        return table
    table = list(previous)
    held = [0] * len(targets)
    for arm in table:
        held[arm] += 1
    freed: list[int] = []
    for index in range(BUCKETS - 1, -1, -1):  # a shrinking arm gives up its highest buckets first
        arm = table[index]
        if held[arm] > targets[arm]:
            held[arm] -= 1
            freed.append(index)
    freed.sort()
    for arm, target in enumerate(targets):
        while held[arm] < target:
            table[freed.pop(0)] = arm
            held[arm] += 1
    return table


def encode(table: Sequence[int]) -> Allocation:
    """Run-length form of an allocation (what the database stores)."""
    runs: Allocation = []
    for index, arm in enumerate(table):
        if runs and runs[-1][0] == arm and runs[-1][2] == index:
            runs[-1] = (arm, runs[-1][1], index + 1)
        else:
            runs.append((arm, index, index + 1))
    return runs


def decode(runs: Sequence[Sequence[int]]) -> bytes:
    """Arm index per bucket from the run-length form (a bytes table: one index lookup per assignment)."""
    table = bytearray(BUCKETS)
    for arm, start, end in runs:
        table[start:end] = bytes([arm]) * (end - start)
    return bytes(table)
