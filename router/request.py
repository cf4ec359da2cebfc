"""What a caller asks the router for, besides the messages."""

from __future__ import annotations

from dataclasses import dataclass, field

from router.config import Strategy

# Typical answer length per task type, used for expected cost and latency when the caller gives none.
EXPECTED_OUTPUT_TOKENS: dict[str, int] = {
    "classification": 64,
    "extraction": 256,
    "summary": 400,
    "explanation": 300,
    "chat": 300,
}
DEFAULT_OUTPUT_TOKENS = 256


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """Routing needs of one model call."""

    prompt_tokens: int
    """Tokens in the prompt (counted or estimated by the caller)."""
    max_tokens: int = 1024
    """Most tokens the answer may have."""
    task_type: str = "chat"
    """summary, classification, extraction, explanation, chat, ... (sets the expected answer length)."""
    priority: int = 0
    """Higher is more important; reserved for queueing (recorded, not yet used for ranking)."""
    required_capabilities: frozenset[str] = field(default_factory=frozenset)
    """Capability tags every candidate must have, e.g. {'json'}."""
    max_cost_usd: float | None = None
    """Refuse backends whose expected cost for this request is higher."""
    latency_budget_s: float | None = None
    """Refuse backends whose measured p95 (or expected latency, before any measurement) is higher."""
    strategy: Strategy | None = None
    """cost, performance or balanced; None uses the workflow's or the default."""
    workflow: str = "adhoc"
    """Workflow the call belongs to (for budgets and records)."""
    expected_output_tokens: int | None = None
    """Override of the expected answer length."""

    @property
    def output_tokens_estimate(self) -> int:
        """Expected answer length, capped by ``max_tokens``."""
        guess = self.expected_output_tokens or EXPECTED_OUTPUT_TOKENS.get(self.task_type, DEFAULT_OUTPUT_TOKENS)
        return min(guess, self.max_tokens)
