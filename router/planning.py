"""Planning one routed call: rank the table and open its decision record."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from router.config import Strategy
from router.errors import BudgetExceededError, NoEligibleBackendError
from router.policy import Ranking, rank, weights_for
from router.record import CandidateRecord, DecisionRecord
from router.request import RouteRequest

if TYPE_CHECKING:
    from router.engine import Router


def plan_route(
    router: Router, request: RouteRequest, only: frozenset[str] | None = None
) -> tuple[Ranking, DecisionRecord]:
    """Rank the backends for ``request``; raise when none can take it, saying why."""
    strategy: Strategy = request.strategy or router.config.default_strategy
    weights = weights_for(strategy, router.config.balanced_weights)
    remaining = router.ledger.remaining(request.workflow)
    ranking = rank(request, router.table, weights, router.clock(), remaining)
    excluded = dict(ranking.excluded)
    candidates = []
    for name, score, cost, latency in zip(
        ranking.order, ranking.scores, ranking.expected_cost_usd, ranking.expected_latency_s, strict=True
    ):
        backend = router.backends[name]
        if only is not None and name not in only and backend.model not in only:
            excluded[name] = "not selected for this workflow"
            continue
        candidates.append(
            CandidateRecord(
                backend=name, model=backend.model, score=score, expected_cost_usd=cost, expected_latency_s=latency
            )
        )
    record = DecisionRecord(
        request_id=str(uuid.uuid4()),
        workflow=request.workflow,
        task_type=request.task_type,
        priority=request.priority,
        strategy=strategy,
        weights={"cost": weights[0], "latency": weights[1], "quality": weights[2]},
        required_capabilities=sorted(request.required_capabilities),
        prompt_tokens_estimate=request.prompt_tokens,
        candidates=candidates,
        excluded=excluded,
        choice=candidates[0].backend if candidates else None,
        estimated_cost_usd=candidates[0].expected_cost_usd if candidates else None,
    )
    if not candidates:
        if remaining is not None and any("remaining daily budget" in why for why in excluded.values()):
            spent = router.ledger.spent(request.workflow)
            raise BudgetExceededError(
                f"workflow {request.workflow!r} has spent ${spent:.6f} of its daily budget; no backend fits "
                f"the remaining ${remaining:.6f}"
            )
        raise NoEligibleBackendError(excluded)
    return ranking, record
