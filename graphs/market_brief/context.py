"""Per-run knobs of the market-brief workflow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import ConfigDict, with_config


@with_config(ConfigDict(use_attribute_docstrings=True))
@dataclass(frozen=True)
class MarketBriefContext:
    """Per-run knobs (set as run context or assistant context on the server)."""

    top_movers: int = 5
    """How many of the largest movers to report."""
    utilisation_warning: float = 0.9
    """Limit utilisation (0-1) from which a book is flagged."""
    strategy: Literal["cost", "performance", "balanced"] | None = None
    """Routing strategy for this workflow's model calls; empty uses the router's default."""
    backend: str | None = None
    """Pin model calls to one backend (its name or model); empty lets the router choose."""
    desk: str = "default"
    """Desk the brief is written for."""
