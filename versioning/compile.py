"""Spec -> ``StateGraph``: steps become nodes, branches conditional edges, a fan-out ``Send``s to a subgraph.

``load_workflow`` parses, checks and compiles in one call; nothing about a spec is trusted before
:func:`versioning.checks.check_spec` passed.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from langgraph.graph import END as GRAPH_END
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime, get_runtime
from langgraph.types import Send
from pydantic import TypeAdapter, ValidationError

from versioning.checks import check_spec
from versioning.expressions import Expression, ExpressionEvalError, parse_expression
from versioning.fields import (
    answer_model,
    context_dataclass,
    input_typed_dict,
    state_annotation,
    type_hints,
    typed_dict,
)
from versioning.spec import (
    END,
    ApprovalStep,
    BranchStep,
    FanOutStep,
    LlmStep,
    StateField,
    ToolStep,
    WorkflowSpec,
    parse_spec,
)
from versioning.steps import Node, StepContext, approval_node, llm_node, tool_node
from versioning.tools import ASSET_EVENTS, Registry

Graph = CompiledStateGraph[Any, Any, Any, Any]
_EVENTS = StateField(reducer="append", description="Airflow asset events this run emits (see emit_asset_event).")


def camel(name: str) -> str:
    """``eod_reconciliation`` -> ``EodReconciliation``."""
    return "".join(part.capitalize() for part in name.split("_"))


class BoundedStateGraph(StateGraph[Any, Any, Any, Any]):
    """A builder whose compiled graphs keep the spec's fan-out bound, whoever compiles them (CLI, tests)."""

    max_concurrency: int | None = None

    def compile(self, *args: Any, **kwargs: Any) -> Graph:
        """Compile as usual; a fan-out bound becomes the graph's ``max_concurrency``."""
        graph = super().compile(*args, **kwargs)
        return graph.with_config(max_concurrency=self.max_concurrency) if self.max_concurrency else graph


@dataclass(frozen=True)
class CompiledWorkflow:
    """A spec compiled to a graph (no checkpointer: it inherits its caller's, or is given one)."""

    spec: WorkflowSpec
    builder: StateGraph[Any, Any, Any, Any]
    graph: Graph
    input_schema: type
    context_schema: type | None

    @functools.cached_property
    def input_adapter(self) -> TypeAdapter[Any]:
        """Validates a run's input (built once: a TypeAdapter costs milliseconds)."""
        return TypeAdapter(self.input_schema)

    @functools.cached_property
    def _context_adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.context_schema or dict)

    @functools.cached_property
    def _default_context(self) -> Any:
        return self.context_schema() if self.context_schema is not None else None

    @property
    def output_keys(self) -> list[str]:
        """State fields a run returns."""
        return list(self.spec.output or type_hints(self.builder.state_schema))

    def make_context(self, values: Mapping[str, Any] | None) -> Any:
        """The run's knobs from plain values; a :class:`SpecError`-free ``ValueError`` names a bad knob."""
        if self.context_schema is None:
            if values:
                raise ValueError(f"context: workflow {self.spec.id!r} has no knobs, got {', '.join(values)}")
            return None
        if not values:
            return self._default_context
        known = {f.name for f in dataclasses.fields(self.context_schema)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"context.{unknown[0]}: unknown knob; known: {', '.join(sorted(known))}")
        try:
            return self._context_adapter.validate_python(dict(values))
        except ValidationError as exc:
            error = exc.errors()[0]
            raise ValueError(f"context.{'.'.join(map(str, error['loc']))}: {error['msg']}") from None


def load_workflow(text: str, registry: Registry, *, file: str = "<spec>", shadow: bool = False) -> CompiledWorkflow:
    """Parse, check and compile YAML text."""
    spec, lines = parse_spec(text, file)
    check_spec(spec, registry, file=file, lines=lines)
    return compile_spec(spec, registry, shadow=shadow)


def _schemas(spec: WorkflowSpec, registry: Registry) -> tuple[type, type | None, dict[str, Any]]:
    name = camel(spec.id)
    if isinstance(spec.input, str):
        input_schema = registry.input_schemas[spec.input]
    else:
        input_schema = input_typed_dict(f"{name}Input", spec.input)
    if isinstance(spec.context, str):
        context_schema: type | None = registry.context_schemas[spec.context]
    elif spec.context:
        context_schema = context_dataclass(f"{name}Context", spec.context)
    else:
        context_schema = None
    fields = dict(type_hints(input_schema))
    fields |= {key: state_annotation(value) for key, value in spec.state.items()}
    fields.setdefault(ASSET_EVENTS, state_annotation(_EVENTS))
    return input_schema, context_schema, fields


def compile_spec(spec: WorkflowSpec, registry: Registry, *, shadow: bool = False) -> CompiledWorkflow:
    """Compile a checked spec; ``shadow`` skips side-effecting tools and stops at approvals."""
    input_schema, context_schema, fields = _schemas(spec, registry)
    name = camel(spec.id)
    state_schema = typed_dict(f"{name}State", fields, total=False)
    output_fields = {key: fields[key] for key in spec.output} if spec.output else None
    output_schema = typed_dict(f"{name}Output", output_fields, total=False) if output_fields else None
    shared = StepContext(spec.id, context_schema or (lambda: None), registry.model_error, shadow, registry.llm_step)
    builder = BoundedStateGraph(
        state_schema, context_schema=context_schema, input_schema=input_schema, output_schema=output_schema
    )
    limits = [s.max_concurrency for s in spec.steps if isinstance(s, FanOutStep)]
    builder.max_concurrency = min(limits) if limits else None
    steps = {step.id: step for step in spec.steps}
    for step in spec.steps:
        if isinstance(step, FanOutStep):
            builder.add_node(step.id, _branch_graph(step, fields, registry, shared))
        elif not isinstance(step, BranchStep):
            builder.add_node(step.id, _node(step, registry, shared))
    wire = _Wiring(builder, steps, shared)
    wire.connect(START, spec.steps[0].id)
    for index, step in enumerate(spec.steps):
        if isinstance(step, BranchStep):
            continue
        following = spec.steps[index + 1].id if index + 1 < len(spec.steps) else END
        target = step.next or following
        if shadow and isinstance(step, ApprovalStep):
            target = END
        wire.connect(step.id, target)
    graph = builder.compile(name=name + ("Shadow" if shadow else ""))
    return CompiledWorkflow(spec, builder, graph, input_schema, context_schema)


def _node(step: LlmStep | ToolStep | ApprovalStep, registry: Registry, shared: StepContext) -> Node:
    if isinstance(step, LlmStep):
        return llm_node(step, shared, answer_model(step.answer) if step.answer.format == "json" else None)
    if isinstance(step, ToolStep):
        return tool_node(step, registry.tools[step.tool], shared)
    return approval_node(step, registry.resume_handlers[step.resume], shared)


def _branch_graph(step: FanOutStep, parent: Mapping[str, Any], registry: Registry, shared: StepContext) -> Graph:
    """The steps one fan-out branch runs, compiled on their own and added to the parent as a node."""
    collect = parent[step.collect]
    fields: dict[str, Any] = {step.item: Any, **{name: parent[name] for name in step.with_}}
    for sub in step.steps:
        writes = [sub.into] if isinstance(sub, LlmStep) else sorted(registry.tools[sub.tool].writes)
        for key in [*writes, *sub.set]:
            fields.setdefault(key, Any)
    fields[step.collect] = collect
    name = camel(step.id)
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(
        typed_dict(f"{name}State", fields, total=False),
        output_schema=typed_dict(f"{name}Output", {step.collect: collect}, total=False),
        context_schema=None,
    )
    previous = START
    for sub in step.steps:
        builder.add_node(sub.id, _node(sub, registry, shared))
        builder.add_edge(previous, sub.id)
        previous = sub.id
    builder.add_edge(previous, GRAPH_END)
    return builder.compile(name=name)


class _Wiring:
    """Edges into a target: a plain edge to a step, or a router through branches and fan-outs."""

    def __init__(self, builder: StateGraph[Any, Any, Any, Any], steps: Mapping[str, Any], shared: StepContext) -> None:
        self.builder = builder
        self.steps = steps
        self.shared = shared

    def connect(self, source: str, target: str) -> None:
        step = self.steps.get(target)
        if target == END:
            self.builder.add_edge(source, GRAPH_END)
        elif not isinstance(step, BranchStep | FanOutStep):
            self.builder.add_edge(source, target)
        else:
            self.builder.add_conditional_edges(source, self.router(target), sorted(self._ends(target, set())))

    def _ends(self, target: str, seen: set[str]) -> set[str]:
        """Every node a router for ``target`` can return."""
        step = self.steps.get(target)
        if target == END:
            return {GRAPH_END}
        if target in seen:
            return set()
        seen.add(target)
        if isinstance(step, BranchStep):
            found: set[str] = set()
            for goto in [*(case.goto for case in step.cases), step.default]:
                found |= self._ends(goto, seen)
            return found
        if isinstance(step, FanOutStep):
            return {target} | self._ends(self._after(target), seen)
        return {target}

    def _after(self, step_id: str) -> str:
        ids = list(self.steps)
        step = self.steps[step_id]
        if step.next:
            return str(step.next)
        index = ids.index(step_id)
        return ids[index + 1] if index + 1 < len(ids) else END

    def router(self, target: str) -> Callable[[dict[str, Any]], Any]:
        """A function of state returning the node name(s) or ``Send``s ``target`` leads to."""
        conditions = {
            step.id: [(parse_expression(case.when), case.goto) for case in step.cases]
            for step in self.steps.values()
            if isinstance(step, BranchStep)
        }
        over = {s.id: parse_expression(s.over) for s in self.steps.values() if isinstance(s, FanOutStep)}
        shared = self.shared

        def evaluate(name: str, expression: Expression, state: dict[str, Any]) -> Any:
            try:
                return expression.evaluate(shared.namespace(state, _runtime()))
            except ExpressionEvalError as exc:
                raise shared.fail(name, str(exc)) from None

        def resolve(name: str, state: dict[str, Any]) -> Any:
            if name == END:
                return GRAPH_END
            step = self.steps[name]
            if isinstance(step, BranchStep):
                for expression, goto in conditions[name]:
                    if evaluate(name, expression, state):
                        return resolve(goto, state)
                return resolve(step.default, state)
            if isinstance(step, FanOutStep):
                items = evaluate(name, over[name], state) or []
                if len(items) > step.max_items:
                    raise shared.fail(name, f"{len(items)} items exceed its bound (max_items: {step.max_items})")
                if not items:
                    return resolve(self._after(name), state)
                carried = {key: state.get(key) for key in step.with_}
                return [Send(name, {step.item: item, **carried, step.collect: []}) for item in items]
            return name

        def route(state: dict[str, Any]) -> Any:
            return resolve(target, state)

        return route


def _runtime() -> Runtime[Any] | None:
    """The run's runtime inside a conditional edge (edge functions get no ``runtime`` argument)."""
    try:
        return get_runtime()
    except RuntimeError:
        return None
