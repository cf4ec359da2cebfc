"""Nodes of the market-brief workflow."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from graphs.chat_models import generate_text
from graphs.market_brief import prompts
from graphs.market_brief.context import MarketBriefContext
from graphs.market_brief.figures import compute_figures
from graphs.market_brief.state import MarketBriefState


async def compute_market_figures(state: MarketBriefState, runtime: Runtime[MarketBriefContext]) -> dict[str, Any]:
    """P&L by book, biggest movers and limit utilisation, all in code."""
    ctx = runtime.context or MarketBriefContext()
    figures = compute_figures(
        state["positions"],
        state.get("limits", []),
        currency=state.get("currency", "USD"),
        top_movers=ctx.top_movers,
        utilisation_warning=ctx.utilisation_warning,
    )
    return {"figures": figures}


async def write_brief(state: MarketBriefState, runtime: Runtime[MarketBriefContext]) -> dict[str, Any]:
    """Have the model write the brief from the computed figures."""
    ctx = runtime.context or MarketBriefContext()
    figures = state["figures"]
    messages = [
        SystemMessage(prompts.SYSTEM.format(desk=ctx.desk)),
        HumanMessage(
            prompts.FIGURES.format(
                as_of=state["as_of"], currency=figures["currency"], figures_json=json.dumps(figures, sort_keys=True)
            )
        ),
    ]
    reply = await generate_text(
        messages, workflow="market_brief", task_type="summary", strategy=ctx.strategy, backend=ctx.backend
    )
    return {"brief": reply.text.strip()}
