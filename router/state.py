"""The ``llm_router`` graph's schemas: what a caller sends, the internal state, what it returns.

Apart from the graph (``router.subgraph``) so that listing graphs and validating input load no LangGraph.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, NotRequired

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

from router.config import Strategy


@with_config(ConfigDict(extra="forbid", use_attribute_docstrings=True))
class RouterInput(TypedDict):
    """What a caller sends: a prompt and its routing needs."""

    prompt: str
    """The user prompt."""
    system: NotRequired[str]
    """Optional system prompt."""
    task_type: NotRequired[str]
    """summary, classification, extraction, explanation or chat (sets the expected answer length)."""
    strategy: NotRequired[Strategy]
    """cost, performance or balanced; absent uses the router's default."""
    required_capabilities: NotRequired[list[str]]
    """Capability tags every candidate must have, e.g. ['json']."""
    max_tokens: NotRequired[int]
    """Most tokens the answer may have."""
    max_cost_usd: NotRequired[float]
    """Refuse backends whose expected cost is higher."""
    latency_budget_s: NotRequired[float]
    """Refuse backends whose measured p95 latency is higher."""
    workflow: NotRequired[str]
    """Workflow the call is charged to."""
    response_schema: NotRequired[dict[str, Any]]
    """JSON Schema the answer must fit (only JSON-capable backends are eligible)."""
    backend: NotRequired[str]
    """Pin the call to one backend (its name or model)."""


class RouterState(RouterInput):
    """Internal state: the request (as sent), the route and every attempt."""

    candidates: NotRequired[list[dict[str, Any]]]
    """Eligible backends, best first, with scores."""
    excluded: NotRequired[dict[str, str]]
    """Backends left out, with the reason."""
    queue: NotRequired[list[str]]
    """Backends still to try, in order."""
    retried: NotRequired[list[str]]
    """Backends already retried once."""
    previous: NotRequired[str | None]
    """The backend tried last."""
    delay_s: NotRequired[float | None]
    """Back-off before the next attempt."""
    started_at: NotRequired[float]
    """Wall-clock (Unix seconds) start of the routed call."""
    deadline_at: NotRequired[float]
    """Wall-clock (Unix seconds) time after which no new attempt starts (retry.total_budget_s)."""
    attempts: Annotated[list[dict[str, Any]], operator.add]
    """Every attempt: backend, outcome, error class, latency, TTFT, usage, cost and its price source."""
    decision: NotRequired[dict[str, Any]]
    """The decision record so far, as plain data (``DecisionRecord.model_validate`` loads it)."""
    answer: NotRequired[str]
    """The answer, once one backend gave it."""
    answered_by: NotRequired[str]
    """Backend that answered."""
    answered_model: NotRequired[str]
    """Model that answered."""
    error: NotRequired[str]
    """Why there is no answer, when there is none."""
    error_type: NotRequired[str]
    """The router error's class, when there is no answer (e.g. AllBackendsFailedError)."""


class RouterOutput(TypedDict):
    """What the graph returns."""

    answer: NotRequired[str]
    """The answer."""
    answered_by: NotRequired[str]
    """Backend that answered."""
    answered_model: NotRequired[str]
    """Model that answered."""
    attempts: list[dict[str, Any]]
    """Every attempt."""
    decision: NotRequired[dict[str, Any]]
    """The full decision record, as plain data."""
    error: NotRequired[str]
    """Why there is no answer, when there is none."""
    error_type: NotRequired[str]
    """The router error's class, when there is no answer."""
