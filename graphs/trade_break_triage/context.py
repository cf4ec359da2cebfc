"""Per-run knobs of the trade-break triage workflow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import ConfigDict, with_config


@with_config(ConfigDict(use_attribute_docstrings=True))
@dataclass(frozen=True)
class TriageContext:
    """Per-run knobs (set as run context or assistant context on the server)."""

    approval_threshold: float = 1_000_000.0
    """Notional above which a human must approve the proposed resolution, in ``threshold_currency``."""
    threshold_currency: str = "USD"
    """Currency of the threshold; a break in another currency is converted with the input's ``fx_rates``."""
    strategy: Literal["cost", "performance", "balanced"] | None = None
    """Routing strategy for this workflow's model calls; empty uses the router's default."""
    backend: str | None = None
    """Pin model calls to one backend (its name or model); empty lets the router choose."""
    desk: str = "default"
    """Desk that owns the break."""
