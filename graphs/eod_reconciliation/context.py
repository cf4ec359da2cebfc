"""Per-run knobs of the reconciliation workflow."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ConfigDict, with_config


@with_config(ConfigDict(use_attribute_docstrings=True))
@dataclass(frozen=True)
class ReconciliationContext:
    """Per-run knobs (set as run context or assistant context on the server)."""

    quantity_tolerance: float = 0.0
    """Absolute quantity difference at or below which two positions count as matched."""
    model: str | None = None
    """Model name override for this run; empty uses the configured default."""
    desk: str = "default"
    """Desk that owns the books."""
