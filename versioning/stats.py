"""A/B statistics, from SciPy: per-arm figures, sample-ratio mismatch, and significance tests.

NumPy and SciPy are imported inside the functions: importing this module (every CLI command and the server
do, through the versioning service) costs nothing until a report or a guardrail check computes figures.

* Sample-ratio mismatch: chi-square of the runs per arm against the weights; flagged at p < 0.001 (the
  assignment or the recording is broken, so no other result should be trusted).
* Success rate: two-proportion z-test (pooled), two-sided.
* Latency and cost per run: Welch's t-test (unequal variances), two-sided.
* Shadow pairs: paired t-test on the per-pair differences.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

SRM_ALPHA = 0.001
ALPHA = 0.05


@dataclass(frozen=True)
class ArmFigures:
    """What one arm did."""

    arm: str
    runs: int
    successes: int
    success_rate: float | None
    p50_s: float | None
    p95_s: float | None
    cost_per_run_usd: float | None


def summarise(arm: str, successes: Sequence[bool], durations: Sequence[float], costs: Sequence[float]) -> ArmFigures:
    """Runs, success rate, p50/p95 duration and mean cost per run of one arm."""
    import numpy as np

    runs = len(successes)
    won = int(sum(successes))
    ordered = np.asarray(durations, dtype=float)
    return ArmFigures(
        arm, runs, won, round(won / runs, 4) if runs else None,
        float(np.quantile(ordered, 0.5)) if runs else None, float(np.quantile(ordered, 0.95)) if runs else None,
        float(np.mean(costs)) if runs else None,
    )  # fmt: skip


def srm(counts: Mapping[str, int], weights: Mapping[str, float]) -> dict[str, Any]:
    """Chi-square of observed runs per arm against the configured weights."""
    import numpy as np

    arms = [a for a in weights if weights[a] > 0]
    observed = np.asarray([counts.get(a, 0) for a in arms], dtype=float)
    total = observed.sum()
    if total == 0 or len(arms) < 2:
        return {"chi2": None, "p_value": None, "mismatch": False}
    expected = np.asarray([weights[a] for a in arms], dtype=float)
    expected = expected / expected.sum() * total
    from scipy import stats  # SciPy takes seconds to import: only reports pay for it

    chi2, p_value = stats.chisquare(observed, expected)
    return {"chi2": float(chi2), "p_value": float(p_value), "mismatch": bool(p_value < SRM_ALPHA)}


def two_proportions(successes_a: int, runs_a: int, successes_b: int, runs_b: int) -> float | None:
    """Two-sided p-value of a difference in success rates (pooled z-test)."""
    if runs_a == 0 or runs_b == 0:
        return None
    pooled = (successes_a + successes_b) / (runs_a + runs_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / runs_a + 1 / runs_b))
    if spread == 0:
        return 1.0
    z = (successes_a / runs_a - successes_b / runs_b) / spread
    from scipy import stats

    return float(2 * stats.norm.sf(abs(z)))


def welch(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided p-value of a difference in means (Welch's t-test)."""
    import numpy as np

    if len(a) < 2 or len(b) < 2:
        return None
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # constant samples: no spread to test against
        return 1.0 if np.mean(a) == np.mean(b) else 0.0
    from scipy import stats

    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def paired(differences: Sequence[float]) -> float | None:
    """Two-sided p-value that the mean paired difference is zero."""
    import numpy as np

    if len(differences) < 2 or np.ptp(differences) == 0:
        return None if len(differences) < 2 else (1.0 if np.mean(differences) == 0 else 0.0)
    from scipy import stats

    return float(stats.ttest_1samp(differences, 0.0).pvalue)


def compare(control: ArmFigures, treatment: ArmFigures, samples: Mapping[str, Mapping[str, Sequence[float]]]
            ) -> dict[str, Any]:  # fmt: skip
    """Treatment against control: differences and p-values (significant at 0.05)."""
    c, t = samples[control.arm], samples[treatment.arm]
    success_p = two_proportions(treatment.successes, treatment.runs, control.successes, control.runs)
    latency_p, cost_p = welch(t["durations"], c["durations"]), welch(t["costs"], c["costs"])

    def diff(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a - b

    return {
        "arm": treatment.arm, "against": control.arm,
        "success_rate_diff": diff(treatment.success_rate, control.success_rate), "success_p_value": success_p,
        "mean_latency_diff_s": diff(_mean(t["durations"]), _mean(c["durations"])), "latency_p_value": latency_p,
        "cost_per_run_diff_usd": diff(treatment.cost_per_run_usd, control.cost_per_run_usd), "cost_p_value": cost_p,
        "significant": [name for name, p in (("success", success_p), ("latency", latency_p), ("cost", cost_p))
                        if p is not None and p < ALPHA],
    }  # fmt: skip


def _mean(values: Sequence[float]) -> float | None:
    import numpy as np

    return float(np.mean(values)) if len(values) else None


def as_dict(figures: ArmFigures) -> dict[str, Any]:
    """Plain form of an arm's figures."""
    return asdict(figures)
