"""The served ``versioned_workflow`` graph: any published workflow, at a label, a pinned version or an A/B arm.

``langgraph.json`` names :func:`graph`, a factory: the server calls it with each request's config, and when
that config names a workflow (an assistant created for it, or a run's context) the graph it returns draws
that workflow's resolved version inside ``run``, so Studio shows its steps and the router in every model
step. What a run executes does not depend on this: ``resolve`` picks the version from the run's own input
and context, once, and checkpoints it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from analytics.runtime import handler
from core.errors import TradeflowError
from graphs.serving import serve
from graphs.versioning_service import service
from versioning.compile import CompiledWorkflow
from versioning.resolve import Resolver
from versioning.subgraph import versioned_builder

logger = logging.getLogger(__name__)

GRAPH_ID = "versioned_workflow"
_GRAPHS: dict[tuple[str, int] | None, CompiledStateGraph[Any, Any, Any, Any]] = {}


def _resolver() -> Resolver:
    return service().resolver


def _callbacks() -> list[Any]:
    return [handler()]


def _drawn(configurable: dict[str, Any]) -> tuple[CompiledWorkflow, int] | None:
    workflow = configurable.get("workflow")
    if not isinstance(workflow, str) or not workflow:
        return None
    version = configurable.get("version")
    try:
        resolution = _resolver().resolve(
            workflow, label=configurable.get("label"), version=version if isinstance(version, int) else None
        )
        return _resolver().compiled(workflow, resolution.version), resolution.version
    except TradeflowError as exc:
        logger.info("versioned_workflow draws no workflow for %r: %s", workflow, exc)
        return None


async def graph(config: RunnableConfig) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The graph for one request (cached per drawn workflow version); Git and database reads run in a thread."""
    drawn = await asyncio.to_thread(_drawn, dict((config or {}).get("configurable") or {}))
    key = (drawn[0].spec.id, drawn[1]) if drawn is not None else None
    found = _GRAPHS.get(key)
    if found is None:
        builder = versioned_builder(_resolver, drawn=drawn, shadow_callbacks=_callbacks)
        found = _GRAPHS[key] = serve(builder, graph_id=GRAPH_ID, name="VersionedWorkflow")
    return found


# For ``tradeflow run versioned_workflow`` and tests: the builder, to compile with a checkpointer.
builder = versioned_builder(_resolver, shadow_callbacks=_callbacks)
