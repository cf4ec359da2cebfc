"""The decision record: what the router considered, tried and spent for one call (100% of calls).

Logged as one JSON line on the ``router.decisions`` logger and attached to the response so callbacks
(analytics) see it. Prompt text appears only when ``log_prompts`` is on; keys never do.

Deciding is on every call's path, reading the record is not: the candidates (one entry per eligible backend)
and the exclusion reasons are written out from the ranking only when someone reads them, dumps or logs the
record. Each attempt carries its cost and the price-table entry that priced it, which analytics stores as is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from router.errors import ErrorClass
from router.tokens import Provenance

decision_logger = logging.getLogger("router.decisions")
# Name of the custom callback event the router subgraph sends its decision record with (analytics listens).
DECISION_EVENT = "tradeflow.router_decision"
# Name of the custom callback event sent when a streamed answer is abandoned and restarted on another backend.
SUPERSEDED_EVENT = "tradeflow.stream_superseded"


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
    cost_source: str | None = None
    """The price-table entry that priced this attempt (``price_table:<version>:<pattern>@<valid_from>``)."""
    retry_of_same_backend: bool = False
    fallback_from: str | None = None
    message_id: str | None = None
    """Id of the streamed message this attempt's tokens carried, when they reached a streaming caller."""


class _Schema(BaseModel):
    """The record's fields, for loading a record from JSON (a checkpoint, a log line)."""

    model_config = ConfigDict(extra="ignore")
    request_id: str
    workflow: str
    task_type: str
    priority: int = 0
    strategy: str
    weights: dict[str, float]
    required_capabilities: list[str] = Field(default_factory=list)
    prompt_tokens_estimate: int
    output_tokens_estimate: int = 0
    candidates: list[CandidateRecord] = Field(default_factory=list)
    excluded: dict[str, str] = Field(default_factory=dict)
    choice: str | None = None
    attempts: list[AttemptRecord] = Field(default_factory=list)
    fallback_chain: list[str] = Field(default_factory=list)
    answered_by: str | None = None
    answered_model: str | None = None
    estimated_cost_usd: float | None = None
    actual_cost_usd: float = 0.0
    cost_provenance: Provenance | None = None
    started_at: float = 0.0
    total_latency_s: float = 0.0
    outcome: Literal["success", "failed"] = "failed"
    prompt: str | None = None


_FIELDS = tuple(_Schema.model_fields)
_LAZY = ("candidates", "excluded")


class DecisionRecord:
    """Everything about one routed call (see the module docstring for what is built lazily)."""

    __slots__ = (*(f for f in _FIELDS if f not in _LAZY), "_candidates", "_excluded", "_explain")

    request_id: str
    workflow: str
    task_type: str
    priority: int
    strategy: str
    weights: dict[str, float]
    required_capabilities: list[str]
    prompt_tokens_estimate: int
    output_tokens_estimate: int
    choice: str | None
    attempts: list[AttemptRecord]
    fallback_chain: list[str]
    answered_by: str | None
    answered_model: str | None
    estimated_cost_usd: float | None
    actual_cost_usd: float
    cost_provenance: Provenance | None
    started_at: float
    """Wall-clock (Unix) time the call began: a checkpoint resumed in another process still reads it right."""
    total_latency_s: float
    outcome: Literal["success", "failed"]
    prompt: str | None

    def __init__(
        self,
        *,
        request_id: str,
        workflow: str,
        task_type: str,
        strategy: str,
        weights: dict[str, float],
        prompt_tokens_estimate: int,
        priority: int = 0,
        required_capabilities: list[str] | None = None,
        output_tokens_estimate: int = 0,
        candidates: list[CandidateRecord] | None = None,
        excluded: dict[str, str] | None = None,
        explain: Callable[[], tuple[list[CandidateRecord], dict[str, str]]] | None = None,
        choice: str | None = None,
        attempts: list[AttemptRecord] | None = None,
        fallback_chain: list[str] | None = None,
        answered_by: str | None = None,
        answered_model: str | None = None,
        estimated_cost_usd: float | None = None,
        actual_cost_usd: float = 0.0,
        cost_provenance: Provenance | None = None,
        started_at: float = 0.0,
        total_latency_s: float = 0.0,
        outcome: Literal["success", "failed"] = "failed",
        prompt: str | None = None,
    ) -> None:
        self.request_id = request_id
        self.workflow = workflow
        self.task_type = task_type
        self.priority = priority
        self.strategy = strategy
        self.weights = weights
        self.required_capabilities = required_capabilities or []
        self.prompt_tokens_estimate = prompt_tokens_estimate
        self.output_tokens_estimate = output_tokens_estimate
        self._candidates = candidates
        self._excluded = excluded
        self._explain = explain
        self.choice = choice
        self.attempts = attempts if attempts is not None else []
        self.fallback_chain = fallback_chain if fallback_chain is not None else []
        self.answered_by = answered_by
        self.answered_model = answered_model
        self.estimated_cost_usd = estimated_cost_usd
        self.actual_cost_usd = actual_cost_usd
        self.cost_provenance = cost_provenance
        self.started_at = started_at
        self.total_latency_s = total_latency_s
        self.outcome = outcome
        self.prompt = prompt

    def _materialise(self) -> None:
        candidates, excluded = self._explain() if self._explain is not None else ([], {})
        self._explain = None
        if self._candidates is None:
            self._candidates = candidates
        if self._excluded is None:
            self._excluded = excluded

    @property
    def candidates(self) -> list[CandidateRecord]:
        """Eligible backends, best first, with their ranking terms."""
        if self._candidates is None:
            self._materialise()
        assert self._candidates is not None
        return self._candidates

    @property
    def excluded(self) -> dict[str, str]:
        """Backends left out, with the reason."""
        if self._excluded is None:
            self._materialise()
        assert self._excluded is not None
        return self._excluded

    def model_dump(self, *, mode: Literal["python", "json"] = "python", exclude_none: bool = False) -> dict[str, Any]:
        """The record as plain data (``mode="json"``: JSON-safe values)."""
        data: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            if name == "attempts":
                value = [a.model_dump(mode=mode, exclude_none=exclude_none) for a in value]
            elif name == "candidates":
                value = [c.model_dump(mode=mode) for c in value]
            elif isinstance(value, (dict, list)):
                value = type(value)(value)
            if exclude_none and value is None:
                continue
            data[name] = value
        return data

    def model_dump_json(self, *, indent: int | None = None, exclude_none: bool = False) -> str:
        """The record as JSON text."""
        return json.dumps(self.model_dump(mode="json", exclude_none=exclude_none), indent=indent)

    @classmethod
    def model_validate(cls, data: Any) -> DecisionRecord:
        """Load a record from plain data (a checkpoint, a log line), checking every field."""
        if isinstance(data, DecisionRecord):
            return data
        schema = _Schema.model_validate(data)
        return cls(**{name: getattr(schema, name) for name in _FIELDS})

    def __repr__(self) -> str:
        return f"DecisionRecord({self.request_id!r}, workflow={self.workflow!r}, outcome={self.outcome!r})"

    def log(self) -> None:
        """Write the record as one JSON line (serialised only when the logger is on)."""
        if decision_logger.isEnabledFor(logging.INFO):
            decision_logger.info("%s", self.model_dump_json(exclude_none=True))
