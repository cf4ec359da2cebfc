"""Per-version and per-arm figures from the analytics rows: what A/B reports and guardrails are computed from.

Each run's cost is the sum of its model calls (``llm_calls.run_id`` is the workflow run's id). Interrupted
runs (waiting for a human) are neither successes nor failures and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from analytics.store import Store

_RUNS = (
    "SELECT w.run_id, w.arm, w.status, w.duration_s, w.pair_id, w.version, COALESCE(c.cost, 0), w.ts "
    "FROM workflow_runs w LEFT JOIN (SELECT run_id, sum(cost_usd) AS cost FROM llm_calls WHERE ts >= :since "
    "GROUP BY run_id) c ON c.run_id = w.run_id WHERE w.ts >= :since AND w.workflow = :workflow "
    "AND w.status <> 'interrupted'"
)


@dataclass(frozen=True)
class RunSample:
    """One finished run."""

    run_id: str
    arm: str | None
    success: bool
    duration_s: float
    cost_usd: float
    pair_id: str | None
    version: str
    ts: datetime


def _samples(rows: list[tuple[object, ...]]) -> list[RunSample]:
    return [
        RunSample(str(r[0]), None if r[1] is None else str(r[1]), r[2] == "success", float(r[3]),  # type: ignore[arg-type]
                  float(r[6]), None if r[4] is None else str(r[4]), str(r[5]), _time(r[7]))  # type: ignore[arg-type]
        for r in rows
    ]  # fmt: skip


def _time(value: object) -> datetime:
    """Postgres returns datetimes, SQLite ISO text."""
    found = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def experiment_samples(store: Store, workflow: str, experiment: str, since: datetime) -> list[RunSample]:
    """Every finished run of an experiment (shadow runs have arm ``shadow``)."""
    return _samples(store.fetch(_RUNS + " AND w.experiment = :experiment",
                                {"since": since, "workflow": workflow, "experiment": experiment}))  # fmt: skip


def version_samples(store: Store, workflow: str, version: str, since: datetime) -> list[RunSample]:
    """Every finished, served (not shadow) run of one version since ``since``."""
    rows = store.fetch(_RUNS + " AND w.version = :version AND (w.arm IS NULL OR w.arm <> 'shadow')",
                       {"since": since, "workflow": workflow, "version": version})  # fmt: skip
    return _samples(rows)
