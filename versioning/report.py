"""The A/B report of an experiment.

Figures per arm, the sample-ratio check, tests of each arm against the first, and the paired comparison of
served runs with their shadow runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from versioning.experiments import Experiment
from versioning.stats import as_dict, compare, paired, srm, summarise

SHADOW_ARM = "shadow"


class Sample(Protocol):
    """One finished run, as analytics has it (``analytics.versions.RunSample``)."""

    @property
    def arm(self) -> str | None:
        """Experiment arm (``shadow`` for a shadow run)."""

    @property
    def success(self) -> bool:
        """Whether the run succeeded."""

    @property
    def duration_s(self) -> float:
        """Wall time of the run."""

    @property
    def cost_usd(self) -> float:
        """Model cost of the run."""

    @property
    def pair_id(self) -> str | None:
        """Ties a served run and its shadow run."""

    @property
    def ts(self) -> datetime:
        """When the run finished."""


def experiment_report(experiment: Experiment, samples: Sequence[Sample]) -> dict[str, Any]:
    """Everything ``tradeflow ab report`` and ``GET /experiments/{id}/report`` show."""
    arms = [a.name for a in experiment.arms]
    columns: dict[str, dict[str, list[float]]] = {a: {"successes": [], "durations": [], "costs": []} for a in arms}
    for sample in samples:
        if sample.arm in columns:
            column = columns[sample.arm]
            column["successes"].append(float(sample.success))
            column["durations"].append(sample.duration_s)
            column["costs"].append(sample.cost_usd)
    figures = {
        a: summarise(a, [bool(s) for s in c["successes"]], c["durations"], c["costs"]) for a, c in columns.items()
    }
    # Runs since the weights last changed are the ones the current weights predict.
    since = datetime.fromisoformat(experiment.ramped_at or experiment.started_at)
    counts = Counter(s.arm for s in samples if s.arm in columns and s.ts >= since)
    ratio = srm(dict(counts), {a.name: a.weight for a in experiment.arms})
    control = figures[arms[0]]
    comparisons = [] if ratio["mismatch"] else [compare(control, figures[a], columns) for a in arms[1:]]
    report: dict[str, Any] = {
        "experiment": experiment.as_dict(), "arms": [as_dict(figures[a]) for a in arms], "srm": ratio,
        "comparisons": comparisons,
        "warning": "sample ratio mismatch: assignment or recording is broken; comparisons withheld"
        if ratio["mismatch"] else None,
    }  # fmt: skip
    if experiment.shadow is not None:
        report["shadow"] = shadow_pairs(samples)
    return report


def shadow_pairs(samples: Sequence[Sample]) -> dict[str, Any]:
    """Served runs against their shadow runs on the same input (matched by ``pair_id``)."""
    served = {s.pair_id: s for s in samples if s.arm != SHADOW_ARM and s.pair_id}
    shadows = {s.pair_id: s for s in samples if s.arm == SHADOW_ARM and s.pair_id}
    pairs = [(served[k], shadows[k]) for k in sorted(set(served) & set(shadows), key=str)]
    if not pairs:
        return {"pairs": 0}
    import numpy as np  # imported when a report is computed, not when the CLI or server starts

    latency = [b.duration_s - a.duration_s for a, b in pairs]
    cost = [b.cost_usd - a.cost_usd for a, b in pairs]
    return {
        "pairs": len(pairs),
        "served_success_rate": round(sum(a.success for a, _ in pairs) / len(pairs), 4),
        "shadow_success_rate": round(sum(b.success for _, b in pairs) / len(pairs), 4),
        "outcome_agreement": round(sum(a.success == b.success for a, b in pairs) / len(pairs), 4),
        "mean_latency_diff_s": float(np.mean(latency)), "latency_p_value": paired(latency),
        "mean_cost_diff_usd": float(np.mean(cost)), "cost_p_value": paired(cost),
    }  # fmt: skip
