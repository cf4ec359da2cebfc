"""The decision record: what the router considered, tried and spent for one call (100% of calls).

Logged as one JSON line on the ``router.decisions`` logger and attached to the response so callbacks
(analytics) see it. Prompt text appears only when ``log_prompts`` is on; keys never do.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, Field

from router.errors import ErrorClass
from router.ledger import Provenance

decision_logger = logging.getLogger("router.decisions")
# Name of the custom callback event the router subgraph sends its decision record with (analytics listens).
DECISION_EVENT = "tradeflow.router_decision"


class CandidateRecord(BaseModel):
    """One eligible backend and its ranking terms."""

    backend: str
    model: str
    score: float
    expected_cost_usd: float
    expected_latency_s: float


class Usage(BaseModel):
    """Tokens of one attempt."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    provenance: Provenance = "estimate"


class AttemptRecord(BaseModel):
    """One attempt on one backend."""

    backend: str
    provider: str
    model: str
    outcome: Literal["success", "failed"]
    error_class: ErrorClass | None = None
    error: str | None = None
    latency_s: float
    ttft_s: float | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    retry_of_same_backend: bool = False
    fallback_from: str | None = None


class DecisionRecord(BaseModel):
    """Everything about one routed call."""

    request_id: str
    workflow: str
    task_type: str
    priority: int
    strategy: str
    weights: dict[str, float]
    required_capabilities: list[str]
    prompt_tokens_estimate: int
    candidates: list[CandidateRecord]
    excluded: dict[str, str]
    choice: str | None
    attempts: list[AttemptRecord] = Field(default_factory=list)
    fallback_chain: list[str] = Field(default_factory=list)
    answered_by: str | None = None
    answered_model: str | None = None
    estimated_cost_usd: float | None = None
    actual_cost_usd: float = 0.0
    cost_provenance: Provenance | None = None
    total_latency_s: float = 0.0
    outcome: Literal["success", "failed"] = "failed"
    prompt: str | None = None

    def log(self) -> None:
        """Write the record as one JSON line (serialised only when the logger is on)."""
        if decision_logger.isEnabledFor(logging.INFO):
            decision_logger.info("%s", self.model_dump_json(exclude_none=True))
