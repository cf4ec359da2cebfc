"""A/B statistics: A/A simulations keep false positives at the nominal rate; SRM and real effects are found."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from scipy import stats as scipy_stats

from versioning.experiments import Arm, Experiment
from versioning.report import experiment_report
from versioning.stats import srm, two_proportions, welch


def test_two_proportion_test_agrees_with_the_chi_square_of_the_table() -> None:
    p = two_proportions(120, 400, 150, 410)
    table = [[120, 280], [150, 260]]
    assert abs(p - scipy_stats.chi2_contingency(table, correction=False).pvalue) < 1e-9


def test_a_a_simulations_keep_false_positives_at_the_nominal_rate() -> None:
    rng = np.random.default_rng(20261124)
    simulations, runs = 600, 200
    success_hits = latency_hits = srm_hits = 0
    for _ in range(simulations):
        a = rng.random(runs) < 0.8
        b = rng.random(runs) < 0.8
        success_hits += two_proportions(int(a.sum()), runs, int(b.sum()), runs) < 0.05
        latency_hits += welch(rng.lognormal(0, 0.5, runs), rng.lognormal(0, 0.5, runs)) < 0.05
        split = int(rng.binomial(2 * runs, 0.5))
        srm_hits += srm({"a": split, "b": 2 * runs - split}, {"a": 0.5, "b": 0.5})["mismatch"]
    # 600 A/A experiments at alpha 0.05: the false-positive count is Binomial(600, 0.05): mean 30, sd ~5.3.
    assert 14 <= success_hits <= 46
    assert 14 <= latency_hits <= 46
    assert srm_hits <= 4  # alpha 0.001


def test_sample_ratio_mismatch_is_flagged_and_comparisons_withheld() -> None:
    experiment = Experiment(
        "e",
        "w",
        "production",
        "running",
        "e",
        (Arm("a", 0.5, 1), Arm("b", 0.5, 2)),
        bytes(10_000),
        None,
        "2026-11-24T00:00:00+00:00",
        "t",
    )

    class S:
        def __init__(self, arm: str, success: bool) -> None:
            self.arm, self.success, self.duration_s, self.cost_usd, self.pair_id = arm, success, 1.0, 0.01, None
            self.ts = datetime(2026, 11, 25, tzinfo=UTC)

    samples = [S("a", True) for _ in range(600)] + [S("b", True) for _ in range(400)]
    report = experiment_report(experiment, samples)
    assert report["srm"]["mismatch"] is True
    assert report["comparisons"] == []
    assert "sample ratio mismatch" in report["warning"]


def test_a_real_effect_is_significant() -> None:
    rng = np.random.default_rng(7)
    assert two_proportions(int((rng.random(2000) < 0.8).sum()), 2000, int((rng.random(2000) < 0.7).sum()), 2000) < 0.001
    assert welch(rng.normal(1.0, 0.2, 500), rng.normal(1.1, 0.2, 500)) < 0.001
