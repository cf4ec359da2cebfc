"""Per-run knobs of the reconciliation workflow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import ConfigDict, with_config


@with_config(ConfigDict(use_attribute_docstrings=True))
@dataclass(frozen=True)
class ReconciliationContext:
    """Per-run knobs (set as run context or assistant context on the server)."""

    quantity_tolerance: float = 0.0
    """Absolute quantity difference at or below which two positions count as matched."""
    strategy: Literal["cost", "performance", "balanced"] | None = None
    """Routing strategy for this workflow's model calls; empty uses the router's default."""
    backend: str | None = None
    """Pin model calls to one backend (its name or model); empty lets the router choose."""
    desk: str = "default"
    """Desk that owns the books."""
