"""Planning one routed call: rank the table and open its decision record (details written out when read)."""

from __future__ import annotations

from random import getrandbits
from typing import TYPE_CHECKING

from router.config import Strategy
from router.errors import BudgetExceededError, NoEligibleBackendError
from router.policy import BackendTable, Ranking, rank
from router.record import CandidateRecord, DecisionRecord
from router.request import RouteRequest

if TYPE_CHECKING:
    from router.engine import Router


def _explainer(
    table: BackendTable, ranking: Ranking, only: frozenset[str] | None
) -> tuple[list[CandidateRecord], dict[str, str]]:
    """The candidates and exclusion reasons of a ranking (from the figures it was made with)."""
    excluded = dict(ranking.excluded)
    candidates = []
    models = table.models
    index = table.index
    for name, score, cost, latency in zip(
        ranking.order, ranking.scores, ranking.expected_cost_usd, ranking.expected_latency_s, strict=True
    ):
        model = models[index[name]]
        if only is not None and name not in only and model not in only:
            excluded[name] = "not selected for this workflow"
            continue
        candidates.append(
            CandidateRecord.model_construct(
                backend=name, model=model, score=score, expected_cost_usd=cost, expected_latency_s=latency
            )
        )
    return candidates, excluded


def plan_route(
    router: Router, request: RouteRequest, only: frozenset[str] | None = None
) -> tuple[Ranking, DecisionRecord, list[str]]:
    """Rank the backends for ``request``: the ranking, the opened record and the queue of backends to try.

    Raises when none can take the request, saying why.
    """
    strategy: Strategy = request.strategy or router.config.default_strategy
    weights = router.strategy_weights[strategy]
    remaining = router.ledger.remaining_hint(request.workflow)
    router.refresh_prices()
    table = router.table
    ranking = rank(request, table, weights, router.clock(), remaining)
    queue = list(ranking.names)
    first_cost: float | None = ranking.cost_at(0) if queue else None
    if only is not None:
        backends = router.backends
        kept = [n for n in queue if n in only or backends[n].model in only]
        if kept[:1] != queue[:1]:
            first_cost = ranking.cost_at(queue.index(kept[0])) if kept else None
        queue = kept
    record = DecisionRecord(
        # 128 random bits as hex, as unique as uuid4().hex at a sixth of the cost (an id, not a secret;
        # random reseeds itself in a forked worker).
        request_id=f"{getrandbits(128):032x}",
        workflow=request.workflow,
        task_type=request.task_type,
        priority=request.priority,
        strategy=strategy,
        weights={"cost": weights[0], "latency": weights[1], "quality": weights[2]},
        required_capabilities=sorted(request.required_capabilities) if request.required_capabilities else [],
        prompt_tokens_estimate=request.prompt_tokens,
        output_tokens_estimate=request.output_tokens_estimate,
        explain=lambda: _explainer(table, ranking, only),
        choice=queue[0] if queue else None,
        estimated_cost_usd=first_cost,
        started_at=router.wall_clock(),
    )
    if not queue:
        error: NoEligibleBackendError | BudgetExceededError
        if remaining is not None and any("remaining daily budget" in why for why in record.excluded.values()):
            error = router.budget_error(request.workflow)
        else:
            error = NoEligibleBackendError(record.excluded)
        record.log()
        error.decision = record
        raise error
    return ranking, record, queue
