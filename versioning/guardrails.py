"""Guardrails: thresholds a label carries; a version behind it that crosses one is rolled back automatically.

The measurement (runs of the version over the window, from analytics) is supplied by the caller; this
module decides. Too few runs in the window decide nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Guardrail(BaseModel):
    """Thresholds over a trailing window."""

    model_config = ConfigDict(extra="forbid")

    max_error_rate: float | None = Field(default=None, ge=0, le=1)
    """Highest share of finished runs that may fail."""
    max_p95_s: float | None = Field(default=None, gt=0)
    """Highest p95 run duration, seconds."""
    max_cost_per_run_usd: float | None = Field(default=None, ge=0)
    """Highest mean model cost per run, USD."""
    window_s: int = Field(default=3600, ge=60, le=30 * 86400)
    """Trailing window the figures are measured over."""
    min_runs: int = Field(default=20, ge=1)
    """Fewer finished runs in the window decide nothing."""

    @model_validator(mode="after")
    def _some_threshold(self) -> Guardrail:
        if self.max_error_rate is None and self.max_p95_s is None and self.max_cost_per_run_usd is None:
            raise ValueError("a guardrail needs max_error_rate, max_p95_s or max_cost_per_run_usd")
        return self


@dataclass(frozen=True)
class WindowFigures:
    """What a version did over a guardrail's window."""

    runs: int
    errors: int
    p95_s: float | None
    cost_per_run_usd: float | None

    @property
    def error_rate(self) -> float:
        """Failed share of finished runs."""
        return self.errors / self.runs if self.runs else 0.0


@dataclass(frozen=True)
class Breach:
    """A threshold crossed, with the measured value."""

    threshold: str
    limit: float
    measured: float

    def __str__(self) -> str:
        return f"{self.threshold} {self.measured:.4g} exceeds {self.limit:.4g}"


def breaches(guardrail: Guardrail, figures: WindowFigures) -> list[Breach]:
    """Every threshold ``figures`` cross (none while there are fewer than ``min_runs`` runs)."""
    if figures.runs < guardrail.min_runs:
        return []
    found = []
    if guardrail.max_error_rate is not None and figures.error_rate > guardrail.max_error_rate:
        found.append(Breach("max_error_rate", guardrail.max_error_rate, figures.error_rate))
    if guardrail.max_p95_s is not None and figures.p95_s is not None and figures.p95_s > guardrail.max_p95_s:
        found.append(Breach("max_p95_s", guardrail.max_p95_s, figures.p95_s))
    cost = figures.cost_per_run_usd
    if guardrail.max_cost_per_run_usd is not None and cost is not None and cost > guardrail.max_cost_per_run_usd:
        found.append(Breach("max_cost_per_run_usd", guardrail.max_cost_per_run_usd, cost))
    return found
