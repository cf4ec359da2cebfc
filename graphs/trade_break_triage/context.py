"""Per-run knobs of the trade-break triage workflow."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ConfigDict, with_config


@with_config(ConfigDict(use_attribute_docstrings=True))
@dataclass(frozen=True)
class TriageContext:
    """Per-run knobs (set as run context or assistant context on the server)."""

    approval_threshold: float = 1_000_000.0
    """Notional above which a human must approve the proposed resolution."""
    model: str | None = None
    """Model name override for this run; empty uses the configured default."""
    desk: str = "default"
    """Desk that owns the break."""
