"""``versioned_workflow``: resolve -> run, the versioned run as a LangGraph graph.

* ``resolve`` picks the version once (pinned version, else the experiment arm for the unit key, else the
  label), checks the workflow's input and knobs against that version's spec, and writes the choice to
  state: checkpointed, so resumes after an interrupt or a crash keep it, whatever labels do meanwhile.
* ``run`` runs that version's compiled spec (cached per version) as a subgraph: checkpoints, interrupts
  and streaming nest under this node. When the workflow ends it stamps the end (in the same node: a superstep
  of its own cost a checkpoint write and ~1 ms per run). A shadow run started beside it (see
  :mod:`versioning.shadow`) is never waited for, and is cancelled when ``run`` is.

Studio draws the spec of the workflow the assistant (or run) names inside ``run``, LLM steps included.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

from langchain_core.callbacks import BaseCallbackManager, adispatch_custom_event
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import ValidationError

from versioning.compile import CompiledWorkflow
from versioning.errors import ResolutionError
from versioning.resolve import Resolution, Resolver
from versioning.shadow import shadow_scope, start_shadow
from versioning.state import RESERVED, VersionedInput, VersionedOutput, VersionedState
from versioning.tools import ASSET_EVENTS

# The custom callback event analytics reads the run's version from (analytics.callbacks.VERSION_EVENT).
VERSION_EVENT = "tradeflow.workflow_version"


def _pick(state: Mapping[str, Any], context: Mapping[str, Any], key: str) -> Any:
    value = state.get(key)
    return value if value is not None else context.get(key)


def _checked_input(compiled: CompiledWorkflow, payload: object) -> dict[str, Any]:
    try:
        checked: dict[str, Any] = compiled.input_adapter.validate_python(payload, strict=True)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(["input", *map(str, error["loc"])])
        raise ResolutionError(f"{where}: {error['msg']} (workflow {compiled.spec.id!r})", field=where) from None
    return checked


def _has_listeners(config: RunnableConfig) -> bool:
    """Whether the run has callback handlers (analytics): the version event costs time, so send it only then."""
    callbacks = config.get("callbacks")
    if isinstance(callbacks, BaseCallbackManager):
        return bool(callbacks.handlers)
    return bool(callbacks)


def versioned_builder(
    resolver: Callable[[], Resolver], *, drawn: tuple[CompiledWorkflow, int] | None = None,
    shadow_callbacks: Callable[[], list[Any]] = list,
) -> StateGraph[Any, Any, Any, Any]:  # fmt: skip
    """The graph; ``drawn`` (a version's spec) is what Studio shows inside ``run``; runs use what they resolved."""
    drawn_graph = drawn[0].graph if drawn is not None else None
    drawn_key = (drawn[0].spec.id, drawn[1]) if drawn is not None else None

    def prepare(state: VersionedState, context: dict[str, Any], thread_id: object, *, load: bool = True
                ) -> tuple[Resolution, dict[str, Any], dict[str, Any]] | None:  # fmt: skip
        """Resolve and check; with ``load=False`` from this process's caches only (None where that is not enough)."""
        workflow = _pick(state, context, "workflow")
        if not isinstance(workflow, str) or not workflow:
            raise ResolutionError("workflow: name the workflow to run (input or context 'workflow')", field="workflow")
        unit_key = _pick(state, context, "unit_key") or thread_id
        found = resolver()
        pick = {"label": _pick(state, context, "label"), "version": _pick(state, context, "version"),
                "unit_key": str(unit_key) if unit_key else None}  # fmt: skip
        if not load:
            cached = found.resolve_cached(workflow, **pick)
            compiled = found.cached(workflow, cached.version) if cached is not None else None
            if cached is None or compiled is None:
                return None
            resolution = cached
        else:
            resolution = found.resolve(workflow, **pick)
            compiled = found.compiled(workflow, resolution.version)
        payload = _checked_input(compiled, state.get("input") or {})
        knobs = {k: v for k, v in context.items() if k not in RESERVED} | dict(state.get("context") or {})
        try:
            compiled.make_context(knobs)
        except ValueError as exc:
            raise ResolutionError(str(exc), field=str(exc).split(":", 1)[0]) from None
        return resolution, payload, knobs

    async def resolve(state: VersionedState, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
        context = runtime.context if isinstance(runtime.context, dict) else {}
        thread_id = config.get("configurable", {}).get("thread_id")
        # From the caches on the loop (a worker thread's hand-off costs more than the lookups); Git, the
        # database and compiling run in a worker thread, never on the event loop.
        prepared = prepare(state, context, thread_id, load=False) or await asyncio.to_thread(
            prepare, state, context, thread_id
        )
        assert prepared is not None
        resolution, payload, knobs = prepared
        pair_id = str(uuid.uuid4())
        start_shadow(resolver(), resolution, payload, knobs, pair_id, shadow_callbacks)
        return {"workflow": resolution.workflow, "version": resolution.version, "spec_sha": resolution.sha,
                "label": resolution.label, "experiment": resolution.experiment, "arm": resolution.arm,
                "pair_id": pair_id, "input": payload, "context": knobs}  # fmt: skip

    async def run(state: VersionedState, config: RunnableConfig) -> dict[str, Any]:
        workflow, version = state["workflow"], int(state["version"] or 0)
        if _has_listeners(config):
            # Every execution of the run (the first, and each resume) tells analytics what it runs.
            await adispatch_custom_event(VERSION_EVENT, {
                "workflow": workflow, "version": version, "experiment": state.get("experiment"),
                "arm": state.get("arm"), "pair_id": state.get("pair_id"),
            }, config=config)  # fmt: skip
        found = resolver()
        compiled = found.cached(workflow, version)
        if compiled is None:
            compiled = await asyncio.to_thread(found.compiled, workflow, version)
        graph = drawn_graph if drawn_key == (workflow, version) and drawn_graph is not None else compiled.graph
        keys = compiled.output_keys
        with shadow_scope(state.get("pair_id")):
            result = await graph.ainvoke(state.get("input") or {}, config, context=compiled.make_context(
                state.get("context")), output_keys=[*keys, ASSET_EVENTS])  # fmt: skip
        output = {key: result[key] for key in keys if key in result and key != ASSET_EVENTS}
        return {"output": output, ASSET_EVENTS: list(result.get(ASSET_EVENTS) or []),
                "finished_at": datetime.now(UTC).isoformat()}  # fmt: skip

    builder: StateGraph[Any, Any, Any, Any] = StateGraph(
        VersionedState, input_schema=VersionedInput, output_schema=VersionedOutput
    )
    builder.add_node("resolve", cast(Any, resolve))
    builder.add_node("run", run)
    builder.add_edge(START, "resolve")
    builder.add_edge("resolve", "run")
    builder.add_edge("run", END)
    return builder
