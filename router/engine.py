"""The router: rank, attempt, fall over, account. Shared by ``RoutedChatModel`` and the subgraph.

Whatever a call claims it gives back on every exit, cancellation included: a recovering backend's single
trial call (its breaker's half-open slot) and the budget reserved for the attempt. Deadlines are wall-clock
times, so a call resumed from a checkpoint in another process keeps its budget of time.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, get_args

from core.prices import PriceTable
from core.settings import get_settings
from router.attempt import AttemptResult, Emit, run_attempt
from router.clients import build_client, describe, missing_key
from router.config import BackendConfig, RouterConfig, Strategy
from router.connections import LoopClients
from router.errors import (
    AllBackendsFailedError,
    AttemptError,
    BudgetExceededError,
    ContentPolicyError,
    ErrorClass,
    RouterError,
    SpendStoreError,
    StreamInterruptedError,
)
from router.health import BackendHealth
from router.ledger import Reservation, SpendLedger
from router.planning import plan_route
from router.policy import BackendTable, Ranking, weights_for
from router.pricing import BackendPrices
from router.record import AttemptRecord, DecisionRecord, Usage
from router.request import RouteRequest
from router.spend_store import SpendStore
from router.tokens import load_tokenizer

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage

logger = logging.getLogger(__name__)

RETRY_SAME_ONCE = {ErrorClass.SERVER_ERROR, ErrorClass.CONNECTION, ErrorClass.RATE_LIMIT}
STOP_NOW = {ErrorClass.BAD_REQUEST}
NEUTRAL = {ErrorClass.CONTEXT_LENGTH, ErrorClass.CONTENT_POLICY, ErrorClass.BAD_REQUEST}
SEVERE = {ErrorClass.CONNECT_REFUSED, ErrorClass.CONNECT_TIMEOUT, ErrorClass.AUTH}
OPENAI_KINDS = ("openai", "vllm", "openai_compatible")
OnRestart = Callable[[AttemptRecord], Awaitable[None]]


@dataclass
class Progress:
    """Where one routed call stands between attempts (the subgraph keeps it in its state)."""

    record: DecisionRecord
    queue: list[str]
    deadline_at: float
    """Wall-clock (Unix) time after which no new attempt starts."""
    max_tokens: int = 1024
    retried: set[str] = field(default_factory=set)
    previous: str | None = None
    delay_s: float | None = None
    last_error: AttemptError | None = None
    refused: list[str] = field(default_factory=list)
    """Backends whose attempt the workflow's remaining budget could not cover."""
    claim: int | None = None
    """The current attempt's breaker claim (see :meth:`BackendHealth.acquire`)."""


class Router:
    """Routes chat calls over a backend table; keeps per-backend health, latency and spend."""

    def __init__(
        self,
        config: RouterConfig,
        *,
        env: Mapping[str, str] | None = None,
        provider: str = "auto",
        prices: PriceTable | None = None,
        spend: SpendStore | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.backends: dict[str, BackendConfig] = {b.name: b for b in config.backends}
        self.clock = clock
        self.wall_clock = wall_clock
        self.sleep = sleep
        self.prices = BackendPrices(prices or PriceTable.load(), config.backends, wall_clock)
        self.table = BackendTable(config.backends, self.prices.in_order())
        self.strategy_weights = {s: weights_for(s, config.balanced_weights) for s in get_args(Strategy)}
        longest_call = config.retry.total_budget_s + config.timeouts.first_token_s
        self.health = BackendHealth(list(config.backends), config.breaker, self.table, claim_hold_s=longest_call)
        self.ledger = SpendLedger(dict(config.budgets_usd_per_day), spend, ttl_s=2 * longest_call)
        self.env: Mapping[str, str] = get_settings().environ if env is None else env
        # Async clients are bound to the event loop they first ran on: one set per loop, closed with it.
        self._clients = LoopClients()
        weakref.finalize(self, self._clients.close)
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

    async def client(self, name: str) -> BaseChatModel:
        """The backend's LangChain client for the running event loop, built once per loop.

        The first build imports the provider's library (seconds on a cold process) and the first count of
        an OpenAI model's tokens loads its tokenizer: both happen in a worker thread, never on the loop.
        """
        found = self._clients.get(name)
        if found is None:
            backend = self.backends[name]
            built, close = await asyncio.to_thread(build_client, backend, self.config.timeouts, self.env)
            found = self._clients.keep(name, built, close)
            await asyncio.to_thread(load_tokenizer, backend.model)
        return found

    def close(self) -> None:
        """Close the backends' connections on every event loop this router ran on (soon, from any thread)."""
        self._clients.close()

    def refresh_prices(self) -> None:
        """Use the newer prices once one takes effect (checked on every plan; a float comparison)."""
        if self.prices.refresh():
            self.table.set_prices(self.prices.in_order())

    def plan(self, request: RouteRequest, *, only: frozenset[str] | None = None) -> tuple[Ranking, DecisionRecord]:
        """Rank the backends for ``request``; the record starts with the candidates and exclusions."""
        ranking, record, _ = plan_route(self, request, only)
        return ranking, record

    def budget_error(self, workflow: str) -> BudgetExceededError:
        """The error for a workflow whose remaining budget fits no backend."""
        budget = self.ledger.budget_for(workflow) or 0.0
        committed = self.ledger.committed(workflow)
        return BudgetExceededError(
            f"workflow {workflow!r} has spent ${committed:.6f} of its daily budget of ${budget:.6f} (reserved "
            f"calls included); no backend fits the remaining ${max(budget - committed, 0.0):.6f}"
        )

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
        on_restart: OnRestart | None = None,
    ) -> tuple[AIMessage, DecisionRecord]:
        """Route one call: try candidates in order under one attempt-and-time budget.

        With ``on_restart``, a stream that fails after tokens reached the caller restarts on the next backend
        (after ``on_restart`` is told which attempt was abandoned); without it, that raises
        :class:`StreamInterruptedError`. Any error raised carries the decision record.
        """
        progress = self.start(request, only=only, prompt_text=prompt_text)
        try:
            while True:
                answer = await self.attempt_next(progress, messages, schema=schema, emit=emit, on_restart=on_restart)
                if answer is not None:
                    return answer, progress.record
        except RouterError as exc:
            if exc.decision is None:
                exc.decision = progress.record
            raise
        finally:
            self.finish(progress)

    def start(
        self, request: RouteRequest, *, only: frozenset[str] | None = None, prompt_text: str | None = None
    ) -> Progress:
        """Rank and open the progress of one routed call."""
        _, record, queue = plan_route(self, request, only)
        if self.config.log_prompts and prompt_text is not None:
            record.prompt = prompt_text
        deadline = record.started_at + self.config.retry.total_budget_s
        return Progress(record=record, queue=queue, deadline_at=deadline, max_tokens=request.max_tokens)

    def finish(self, progress: Progress) -> None:
        """Close the record of one routed call and log it."""
        progress.record.total_latency_s = max(self.wall_clock() - progress.record.started_at, 0.0)
        progress.record.log()

    async def attempt_next(
        self,
        progress: Progress,
        messages: Sequence[BaseMessage],
        *,
        schema: dict[str, Any] | None = None,
        emit: Emit | None = None,
        on_restart: OnRestart | None = None,
    ) -> AIMessage | None:
        """Make the next attempt; the answer, or None to be called again; raises when there is no answer."""
        if progress.delay_s:
            await self.sleep(progress.delay_s)
            progress.delay_s = None
        name, reservation = await self._claim_next(progress)
        record = progress.record
        backend = self.backends[name]
        if name not in record.fallback_chain:
            record.fallback_chain.append(name)
        limit = self.health.first_token_limit(
            name, self.config.timeouts, streamed=emit is not None, max_tokens=progress.max_tokens,
            has_fallback=len(progress.queue) > 1,
        )  # fmt: skip
        attempt_started = self.clock()
        try:
            client = self._clients.get(name) or await self.client(name)
            async with self.ledger.holding(reservation):
                result = await run_attempt(client, backend, messages, first_token_s=limit,
                                           stream_idle_s=self.config.timeouts.stream_idle_s, schema=schema,
                                           emit=emit, clock=self.clock)  # fmt: skip
        except AttemptError as error:
            await self._handle_failure(progress, name, error, attempt_started, reservation, on_restart)
            return None
        except BaseException:
            # Cancelled (client gone, run cancelled) or a bug: give back the trial slot, charge the estimate.
            self.health.release(name, progress.claim)
            self.ledger.settle_later(reservation, reservation.amount_usd)
            raise
        await self._succeed(name, result, record, progress, reservation)
        return _annotate(result.message, backend, record)

    async def _claim_next(self, progress: Progress) -> tuple[str, Reservation]:
        """The next backend whose breaker lets a call through and whose estimated cost the budget covers."""
        record = progress.record
        policy = self.config.retry
        while True:
            # Candidates whose breaker opened since ranking are passed over here, not attempted.
            while progress.queue and (claim := self.health.acquire(progress.queue[0], self.clock())) is None:
                progress.queue.pop(0)
            exhausted = len(record.attempts) >= policy.max_attempts
            if not progress.queue or exhausted or self.wall_clock() >= progress.deadline_at:
                if progress.queue:
                    self.health.release(progress.queue[0], claim)
                self._give_up(progress)
            progress.claim = claim
            name = progress.queue[0]
            estimate = self.prices.by_name[name].cost(record.prompt_tokens_estimate, record.output_tokens_estimate)
            reservation = self.ledger.unbudgeted(record.workflow, estimate)
            if reservation is not None:
                return name, reservation
            try:
                reservation = await self.ledger.reserve(record.workflow, estimate)
            except BaseException:
                self.health.release(name, claim)
                raise
            if reservation is not None:
                return name, reservation
            self.health.release(name, claim)
            record.excluded[name] = f"expected cost ${estimate:.6f} > remaining daily budget"
            progress.refused.append(name)
            progress.queue.pop(0)

    async def _settle(self, reservation: Reservation, cost: float) -> None:
        if not reservation.id:
            return  # nothing was reserved (no budget): nothing to settle
        try:
            await self.ledger.settle(reservation, cost)
        except SpendStoreError:
            # The answer stands; the reservation expires on its own and the spend row misses this cost.
            logger.exception("could not record $%.6f for workflow %r", cost, reservation.workflow)

    async def _handle_failure(
        self,
        progress: Progress,
        name: str,
        error: AttemptError,
        attempt_started: float,
        reservation: Reservation,
        on_restart: OnRestart | None,
    ) -> None:
        progress.last_error = error
        delay = None if error.emitted else self._retry_delay(name, error, progress.retried, progress.deadline_at)
        attempt = self._fail(name, error, progress, attempt_started, retrying=delay is not None)
        await self._settle(reservation, attempt.cost_usd)
        backend = self.backends[name]
        if error.emitted:
            if on_restart is None:
                raise StreamInterruptedError(
                    f"{describe(backend)}: {error} after tokens reached the caller; the partial answer is not a success"
                ) from error
            await on_restart(attempt)
        if error.error_class is ErrorClass.CONTENT_POLICY:
            raise ContentPolicyError(name, str(error).split(": ", 1)[-1]) from error
        if error.error_class in STOP_NOW:
            progress.queue.clear()
            return
        if error.error_class is ErrorClass.CONTEXT_LENGTH:
            # The provider's own figures beat the table: what the request needs, or more than the stated window.
            if error.requested_tokens is not None:
                need = error.requested_tokens
            elif error.stated_limit is not None:
                need = error.stated_limit + 1
            else:
                need = backend.context_window
            progress.queue[:] = [n for n in progress.queue[1:] if self.backends[n].context_window >= need]
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
        if progress.refused and not record.attempts:
            error = self.budget_error(record.workflow)
            error.decision = record
            raise error from progress.last_error
        attempts = "; ".join(
            f"{describe(self.backends[a.backend])} (backend {a.backend}): {a.error_class}: {a.error}"
            for a in record.attempts
        )
        raise AllBackendsFailedError(
            f"every backend failed for workflow {record.workflow!r}; tried {attempts or 'none (all breakers open)'}",
            record,
        ) from progress.last_error

    def _retry_delay(self, name: str, error: AttemptError, retried: set[str], deadline_at: float) -> float | None:
        """Seconds to wait before retrying ``name`` once more, or None to fail over now."""
        if error.error_class not in RETRY_SAME_ONCE or name in retried:
            return None
        policy = self.config.retry
        jitter = 0.5 + random.random() / 2
        delay = error.retry_after_s if error.retry_after_s is not None else policy.backoff_base_s * jitter
        if delay > policy.backoff_max_s or self.wall_clock() + delay >= deadline_at:
            return None
        return delay

    def _fail(
        self, name: str, error: AttemptError, progress: Progress, attempt_started: float, *, retrying: bool
    ) -> AttemptRecord:
        now = self.clock()
        if error.error_class in NEUTRAL:
            self.health.release(name, progress.claim)
        else:
            # A failure about to be retried counts towards the threshold but does not open at once.
            hold = error.retry_after_s if error.error_class is ErrorClass.RATE_LIMIT and not retrying else None
            self.health.failed(name, now, severe=error.error_class in SEVERE and not retrying, hold_s=hold)
        backend = self.backends[name]
        usage = error.usage or Usage()
        price = self.prices.by_name[name]
        attempt = AttemptRecord(
            backend=name,
            provider=backend.kind,
            model=backend.model,
            outcome="failed",
            error_class=error.error_class,
            error=str(error).split(": ", 1)[-1][:300],
            latency_s=now - attempt_started,
            usage=usage,
            # Tokens a failed stream consumed are billed by the provider, so they are counted here too.
            cost_usd=price.cost(usage.input_tokens, usage.output_tokens, usage.cached_input_tokens),
            cost_source=price.source,
            retry_of_same_backend=name in progress.retried,
            fallback_from=progress.previous,
        )
        progress.record.attempts.append(attempt)
        progress.record.actual_cost_usd += attempt.cost_usd
        return attempt

    async def _succeed(
        self, name: str, result: AttemptResult, record: DecisionRecord, progress: Progress, reservation: Reservation
    ) -> None:
        self.health.succeeded(name, result.ttft_s, result.latency_s, result.usage.output_tokens,
                              streamed=result.streamed)  # fmt: skip
        backend = self.backends[name]
        usage = result.usage
        price = self.prices.by_name[name]
        spent = price.cost(usage.input_tokens, usage.output_tokens, usage.cached_input_tokens)
        # The validating constructor: for a model this small it is faster than pydantic's model_construct.
        record.attempts.append(
            AttemptRecord(
                backend=name,
                provider=backend.kind,
                model=backend.model,
                outcome="success",
                error_class=None,
                error=None,
                latency_s=result.latency_s,
                ttft_s=result.ttft_s,
                usage=usage,
                cost_usd=spent,
                cost_source=price.source,
                retry_of_same_backend=name in progress.retried,
                fallback_from=progress.previous,
                message_id=None,
            )
        )
        record.answered_by = name
        record.answered_model = backend.model
        record.actual_cost_usd += spent
        record.cost_provenance = usage.provenance
        record.outcome = "success"
        await self._settle(reservation, spent)


def _annotate(message: AIMessage, backend: BackendConfig, record: DecisionRecord) -> AIMessage:
    message.response_metadata = {
        **message.response_metadata,
        "model_name": backend.model,
        "router_backend": backend.name,
        "router_decision_id": record.request_id,
    }
    return message
