"""The market-brief workflow's tool steps (its flow and prompts are in ``workflows/market_brief.yaml``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphs.market_brief.context import MarketBriefContext
from graphs.market_brief.figures import compute_figures


def compute_market_figures(state: Mapping[str, Any], context: MarketBriefContext | None) -> dict[str, Any]:
    """P&L by book, biggest movers and limit utilisation, all in code."""
    ctx = context or MarketBriefContext()
    figures = compute_figures(
        state["positions"],
        state.get("limits", []),
        currency=state.get("currency", "USD"),
        top_movers=ctx.top_movers,
        utilisation_warning=ctx.utilisation_warning,
    )
    return {"figures": figures}
