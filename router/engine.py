"""The router: rank, attempt, fall over, account. Shared by ``RoutedChatModel`` and the subgraph."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage

from core.settings import get_settings
from router.attempt import AttemptResult, Emit, run_attempt
from router.clients import build_client, describe, missing_key
from router.config import BackendConfig, RouterConfig
from router.errors import (
    AllBackendsFailedError,
    AttemptError,
    ContentPolicyError,
    ErrorClass,
    StreamInterruptedError,
)
from router.health import BackendHealth
from router.ledger import SpendLedger, cost_usd
from router.planning import plan_route
from router.policy import BackendTable, Ranking
from router.record import AttemptRecord, DecisionRecord
from router.request import RouteRequest

logger = logging.getLogger(__name__)

RETRY_SAME_ONCE = {ErrorClass.SERVER_ERROR, ErrorClass.CONNECTION, ErrorClass.RATE_LIMIT}
STOP_NOW = {ErrorClass.BAD_REQUEST}
NEUTRAL = {ErrorClass.CONTEXT_LENGTH, ErrorClass.CONTENT_POLICY, ErrorClass.BAD_REQUEST}
SEVERE = {ErrorClass.CONNECT_REFUSED, ErrorClass.CONNECT_TIMEOUT, ErrorClass.AUTH}
OPENAI_KINDS = ("openai", "vllm", "openai_compatible")


@dataclass
class Progress:
    """Where one routed call stands between attempts (the subgraph keeps it in its state)."""

    record: DecisionRecord
    queue: list[str]
    started: float
    retried: set[str] = field(default_factory=set)
    previous: str | None = None
    delay_s: float | None = None
    last_error: AttemptError | None = None


class Router:
    """Routes chat calls over a backend table; keeps per-backend health, latency and spend."""

    def __init__(
        self,
        config: RouterConfig,
        *,
        env: Mapping[str, str] | None = None,
        provider: str = "auto",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.backends: dict[str, BackendConfig] = {b.name: b for b in config.backends}
        self.table = BackendTable(config.backends)
        self.health = BackendHealth(list(config.backends), config.breaker, self.table)
        self.ledger = SpendLedger(dict(config.budgets_usd_per_day))
        self.clock = clock
        self.sleep = sleep
        self.env: Mapping[str, str] = get_settings().environ if env is None else env
        self._clients: dict[str, BaseChatModel] = {}
        for backend in config.backends:
            key = missing_key(backend, self.env)
            if key is not None:
                self.table.disable(backend.name, f"{key} is not set")
            elif provider == "openai" and backend.kind not in OPENAI_KINDS:
                self.table.disable(backend.name, "TRADEFLOW_LLM_PROVIDER=openai")
            elif provider == "ollama" and backend.kind != "ollama":
                self.table.disable(backend.name, "TRADEFLOW_LLM_PROVIDER=ollama")

    def record_probe(self, name: str, ok: bool) -> None:
        """Feed an active health probe's result into the backend's breaker."""
        self.health.probed(name, ok, self.clock())

    def client(self, name: str) -> BaseChatModel:
        """The backend's LangChain client, built once."""
        if name not in self._clients:
            self._clients[name] = build_client(self.backends[name], self.config.timeouts, self.env)
        return self._clients[name]

    def plan(self, request: RouteRequest, *, only: frozenset[str] | None = None) -> tuple[Ranking, DecisionRecord]:
        """Rank the backends for ``request``; the record starts with the candidates and exclusions."""
        return plan_route(self, request, only)

    # --- execution -----------------------------------------------------------------------------
    async def execute(
        self,
        messages: Sequence[BaseMessage],
        request: RouteRequest,
        *,
        schema: dict[str, Any] | None = None,
        emit: Emit | None = None,
        only: frozenset[str] | None = None,
        prompt_text: str | None = None,
    ) -> tuple[AIMessage, DecisionRecord]:
        """Route one call: try candidates in order under one attempt-and-time budget."""
        progress = self.start(request, only=only, prompt_text=prompt_text)
        try:
            while True:
                answer = await self.attempt_next(progress, messages, schema=schema, emit=emit)
                if answer is not None:
                    return answer, progress.record
        finally:
            self.finish(progress)

    def start(
        self, request: RouteRequest, *, only: frozenset[str] | None = None, prompt_text: str | None = None
    ) -> Progress:
        """Rank and open the progress of one routed call."""
        _, record = self.plan(request, only=only)
        if self.config.log_prompts and prompt_text is not None:
            record.prompt = prompt_text
        return Progress(record=record, queue=[c.backend for c in record.candidates], started=self.clock())

    def finish(self, progress: Progress) -> None:
        """Close the record of one routed call and log it."""
        progress.record.total_latency_s = self.clock() - progress.started
        progress.record.log()

    async def attempt_next(
        self,
        progress: Progress,
        messages: Sequence[BaseMessage],
        *,
        schema: dict[str, Any] | None = None,
        emit: Emit | None = None,
    ) -> AIMessage | None:
        """Make the next attempt; the answer, or None to be called again; raises when there is no answer."""
        record = progress.record
        policy = self.config.retry
        if progress.delay_s:
            await self.sleep(progress.delay_s)
            progress.delay_s = None
        # Candidates whose breaker opened since ranking are passed over here, not attempted.
        while progress.queue and not self.health.acquire(progress.queue[0], self.clock()):
            progress.queue.pop(0)
        exhausted = len(record.attempts) >= policy.max_attempts
        if not progress.queue or exhausted or self.clock() - progress.started >= policy.total_budget_s:
            if progress.queue:
                self.health.release(progress.queue[0])
            self._give_up(progress)
        name = progress.queue[0]
        backend = self.backends[name]
        if name not in record.fallback_chain:
            record.fallback_chain.append(name)
        attempt_started = self.clock()
        try:
            result = await run_attempt(self.client(name), backend, messages, timeouts=self.config.timeouts,
                                       schema=schema, emit=emit, clock=self.clock)  # fmt: skip
        except AttemptError as error:
            self._handle_failure(progress, name, error, attempt_started)
            return None
        self._succeed(name, result, record, progress.previous, name in progress.retried)
        return _annotate(result.message, backend, record)

    def _handle_failure(self, progress: Progress, name: str, error: AttemptError, attempt_started: float) -> None:
        progress.last_error = error
        delay = None if error.emitted else self._retry_delay(name, error, progress.retried, progress.started)
        self._fail(name, error, progress.record, attempt_started, progress.previous, progress.retried,
                   retrying=delay is not None)  # fmt: skip
        backend = self.backends[name]
        if error.emitted:
            raise StreamInterruptedError(
                f"{describe(backend)}: {error} after tokens reached the caller; the partial answer is not a success"
            ) from error
        if error.error_class is ErrorClass.CONTENT_POLICY:
            raise ContentPolicyError(name, str(error).split(": ", 1)[-1]) from error
        if error.error_class in STOP_NOW:
            progress.queue.clear()
            return
        if error.error_class is ErrorClass.CONTEXT_LENGTH:
            window = backend.context_window
            progress.queue[:] = [n for n in progress.queue[1:] if self.backends[n].context_window > window]
            progress.previous = name
            return
        if delay is not None:
            progress.retried.add(name)
            progress.delay_s = delay
            return
        progress.queue.pop(0)
        progress.previous = name

    def _give_up(self, progress: Progress) -> NoReturn:
        record = progress.record
        attempts = "; ".join(
            f"{describe(self.backends[a.backend])} (backend {a.backend}): {a.error_class}: {a.error}"
            for a in record.attempts
        )
        raise AllBackendsFailedError(
            f"every backend failed for workflow {record.workflow!r}; tried {attempts or 'none (all breakers open)'}",
            record,
        ) from progress.last_error

    def _retry_delay(self, name: str, error: AttemptError, retried: set[str], started: float) -> float | None:
        """Seconds to wait before retrying ``name`` once more, or None to fail over now."""
        if error.error_class not in RETRY_SAME_ONCE or name in retried:
            return None
        policy = self.config.retry
        jitter = 0.5 + random.random() / 2
        delay = error.retry_after_s if error.retry_after_s is not None else policy.backoff_base_s * jitter
        if delay > policy.backoff_max_s or self.clock() - started + delay >= policy.total_budget_s:
            return None
        return delay

    def _fail(
        self,
        name: str,
        error: AttemptError,
        record: DecisionRecord,
        attempt_started: float,
        previous: str | None,
        retried: set[str],
        *,
        retrying: bool,
    ) -> None:
        now = self.clock()
        if error.error_class in NEUTRAL:
            self.health.release(name)
        else:
            # A failure about to be retried counts towards the threshold but does not open at once.
            hold = error.retry_after_s if error.error_class is ErrorClass.RATE_LIMIT and not retrying else None
            self.health.failed(name, now, severe=error.error_class in SEVERE and not retrying, hold_s=hold)
        backend = self.backends[name]
        record.attempts.append(
            AttemptRecord(
                backend=name,
                provider=backend.kind,
                model=backend.model,
                outcome="failed",
                error_class=error.error_class,
                error=str(error).split(": ", 1)[-1][:300],
                latency_s=now - attempt_started,
                retry_of_same_backend=name in retried,
                fallback_from=previous,
            )
        )

    def _succeed(
        self, name: str, result: AttemptResult, record: DecisionRecord, previous: str | None, retry: bool
    ) -> None:
        self.health.succeeded(name, result.ttft_s, result.latency_s, result.usage.output_tokens)
        backend = self.backends[name]
        usage = result.usage
        spent = cost_usd(backend, usage.input_tokens, usage.output_tokens, usage.cached_input_tokens)
        self.ledger.add(record.workflow, spent)
        record.attempts.append(
            AttemptRecord(
                backend=name,
                provider=backend.kind,
                model=backend.model,
                outcome="success",
                latency_s=result.latency_s,
                ttft_s=result.ttft_s,
                usage=usage,
                cost_usd=spent,
                retry_of_same_backend=retry,
                fallback_from=previous,
            )
        )
        record.answered_by = name
        record.answered_model = backend.model
        record.actual_cost_usd = spent
        record.cost_provenance = usage.provenance
        record.outcome = "success"


def _annotate(message: AIMessage, backend: BackendConfig, record: DecisionRecord) -> AIMessage:
    message.response_metadata = {
        **message.response_metadata,
        "model_name": backend.model,
        "router_backend": backend.name,
        "router_decision_id": record.request_id,
    }
    return message
