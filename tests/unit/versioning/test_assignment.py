"""Sticky A/B assignment: golden vectors, weights honoured, ramps keep assigned units."""

from __future__ import annotations

import hashlib
from collections import Counter

from versioning.assignment import BUCKETS, allocate, bucket, bucket_counts, decode, encode

# Pinned: the same unit must land in the same bucket in every process and every release. If one of these
# changes, every running experiment silently reshuffles its units.
GOLDEN = {
    ("exp-1", "desk-7"): 3155,
    ("exp-1", "desk-8"): 2998,
    ("exp-1", "BRK-2026-11-24-0042"): 7731,
    ("market_brief-ab", "rates-desk"): 4077,
    ("", ""): 8438,
}


def test_golden_bucket_vectors() -> None:
    assert {key: bucket(*key) for key in GOLDEN} == GOLDEN
    # The documented formula, spelled out: SHA-256 of salt, 0x1f, unit; first 8 bytes big-endian; mod 10,000.
    for (salt, unit), expected in GOLDEN.items():
        digest = hashlib.sha256(salt.encode() + b"\x1f" + unit.encode()).digest()
        assert int.from_bytes(digest[:8], "big") % 10_000 == expected


def test_buckets_are_uniform_and_salted() -> None:
    counts = Counter(bucket("s", f"unit-{i}") // 1000 for i in range(20_000))
    assert all(1_800 < n < 2_200 for n in counts.values())
    assert sum(bucket("a", f"u{i}") == bucket("b", f"u{i}") for i in range(1000)) < 10


def test_bucket_counts_sum_to_all_buckets() -> None:
    assert bucket_counts([0.5, 0.5]) == [5000, 5000]
    assert bucket_counts([1 / 3, 1 / 3, 1 / 3]) == [3334, 3333, 3333]
    assert sum(bucket_counts([0.123, 0.456, 0.421])) == BUCKETS


def test_ramping_up_keeps_every_assigned_unit_of_the_growing_arm() -> None:
    units = [f"desk-{i}" for i in range(5000)]
    before = decode(encode(allocate([0.9, 0.1])))
    after = decode(encode(allocate([0.5, 0.5], list(before))))
    arm_before = {u: before[bucket("x", u)] for u in units}
    arm_after = {u: after[bucket("x", u)] for u in units}
    treated = [u for u in units if arm_before[u] == 1]
    assert treated
    assert all(arm_after[u] == 1 for u in treated)
    moved = sum(arm_before[u] != arm_after[u] for u in units)
    assert 0.35 * len(units) < moved < 0.45 * len(units)  # only what the ramp needs (~40% of units)
    assert Counter(after) == {0: 5000, 1: 5000}


def test_a_three_arm_ramp_moves_only_buckets_the_shrinking_arm_gives_up() -> None:
    before = allocate([0.5, 0.3, 0.2])
    after = allocate([0.4, 0.3, 0.3], before)
    changed = [i for i in range(BUCKETS) if before[i] != after[i]]
    assert len(changed) == 1000
    assert all(before[i] == 0 and after[i] == 2 for i in changed)
