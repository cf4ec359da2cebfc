"""Checks of a parsed spec against a tool registry: names, targets, reachability and cycles.

Every problem names file, line and field; :func:`check_spec` raises them all at once, before anything is
compiled or published.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from versioning.errors import SpecError, SpecProblem
from versioning.expressions import ExpressionSyntaxError, parse_expression, parse_template
from versioning.fields import type_hints
from versioning.source import Path, format_path, line_of
from versioning.spec import END, ApprovalStep, BranchStep, FanOutStep, LlmStep, ToolStep, WorkflowSpec
from versioning.tools import ASSET_EVENTS, Registry


@dataclass
class _Checker:
    spec: WorkflowSpec
    registry: Registry
    file: str
    lines: Mapping[Path, int]
    problems: list[SpecProblem] = field(default_factory=list)

    def add(self, path: Path, message: str) -> None:
        self.problems.append(SpecProblem(self.file, line_of(dict(self.lines), path), format_path(path), message))

    def names_in(self, path: Path, text: str, scope: set[str], *, template: bool) -> None:
        """Parse a template or expression at ``path``; every name it reads must be in ``scope``."""
        try:
            parsed = parse_template(text) if template else parse_expression(text)
        except ExpressionSyntaxError as exc:
            self.add(path, str(exc))
            return
        for name in sorted(parsed.names - scope - {"context"}):
            known = ", ".join(sorted(scope - {"context"}))
            self.add(path, f"variable {name!r} is not in state (state has: {known})")

    def values_in(self, path: Path, value: Any, scope: set[str]) -> None:
        """Templates anywhere inside a request or args value."""
        if isinstance(value, str):
            self.names_in(path, value, scope, template=True)
        elif isinstance(value, dict):
            for key, item in value.items():
                self.values_in((*path, key), item, scope)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.values_in((*path, index), item, scope)


def input_fields(spec: WorkflowSpec, registry: Registry) -> set[str] | None:
    """Names of the input fields (None when the registered schema is unknown)."""
    if isinstance(spec.input, str):
        schema = registry.input_schemas.get(spec.input)
        return None if schema is None else set(type_hints(schema))
    return set(spec.input)


def context_knobs(spec: WorkflowSpec, registry: Registry) -> set[str] | None:
    """Names of the context knobs (None when the registered context is unknown)."""
    if spec.context is None:
        return set()
    if isinstance(spec.context, str):
        schema = registry.context_schemas.get(spec.context)
        return None if schema is None else {f.name for f in dataclasses.fields(schema)}
    return set(spec.context)


def check_spec(spec: WorkflowSpec, registry: Registry, *, file: str, lines: Mapping[Path, int]) -> None:
    """Raise :class:`SpecError` with every problem found; return quietly when the spec is sound."""
    checker = _Checker(spec, registry, file, lines)
    inputs = input_fields(spec, registry)
    if inputs is None:
        checker.add(("input",), f"unknown input schema {spec.input!r}; known: {', '.join(registry.input_schemas)}")
        inputs = set()
    if context_knobs(spec, registry) is None:
        known = ", ".join(registry.context_schemas)
        checker.add(("context",), f"unknown context {spec.context!r}; known: {known}")
    for name in spec.state:
        if name in inputs:
            checker.add(("state", name), "already an input field; declare it once")
    state = inputs | set(spec.state) | {ASSET_EVENTS}
    ids = _step_ids(checker)
    for index, step in enumerate(spec.steps):
        _check_step(checker, ("steps", index), step, state, ids, inside_fan_out=False)
    for index, name in enumerate(spec.output or []):
        if name not in state:
            checker.add(("output", index), f"{name!r} is not in state")
    _check_flow(checker, ids)
    if checker.problems:
        raise SpecError(checker.problems)


def _step_ids(checker: _Checker) -> set[str]:
    ids: set[str] = set()
    for index, step in enumerate(checker.spec.steps):
        found: list[tuple[Path, Any]] = [(("steps", index), step)]
        if isinstance(step, FanOutStep):
            found += [(("steps", index, "steps", j), sub) for j, sub in enumerate(step.steps)]
        for path, item in found:
            if item.id == END:
                checker.add((*path, "id"), "'end' is reserved")
            elif item.id in ids:
                checker.add((*path, "id"), f"step id {item.id!r} is used twice")
            ids.add(item.id)
    return ids


def _check_step(
    checker: _Checker, path: Path, step: Any, scope: set[str], ids: set[str], *, inside_fan_out: bool
) -> set[str]:
    """Check one step against ``scope``; return the fields it writes."""
    writes: set[str] = set()
    registry = checker.registry
    if isinstance(step, LlmStep):
        checker.names_in((*path, "prompt", "user"), step.prompt.user, scope, template=True)
        checker.names_in((*path, "prompt", "system"), step.prompt.system, scope, template=True)
        writes.add(step.into)
        if not inside_fan_out and step.into not in scope:
            checker.add((*path, "into"), f"{step.into!r} is not in state; declare it under state")
    elif isinstance(step, ToolStep):
        tool = registry.tools.get(step.tool)
        if tool is None:
            checker.add((*path, "tool"), f"unknown tool {step.tool!r}; registered: {', '.join(sorted(registry.tools))}")
        else:
            for name in sorted(tool.reads - scope):
                checker.add((*path, "tool"), f"tool {step.tool!r} reads {name!r}, which is not in state")
            writes |= tool.writes
            if not inside_fan_out:
                for name in sorted(tool.writes - scope):
                    checker.add((*path, "tool"), f"tool {step.tool!r} writes {name!r}; declare it under state")
        checker.values_in((*path, "args"), step.args, scope)
    elif isinstance(step, ApprovalStep):
        handler = registry.resume_handlers.get(step.resume)
        if handler is None:
            known = ", ".join(sorted(registry.resume_handlers))
            checker.add((*path, "resume"), f"unknown resume handler {step.resume!r}; registered: {known}")
        else:
            writes |= handler.writes
            for name in sorted(handler.writes - scope):
                checker.add((*path, "resume"), f"handler {step.resume!r} writes {name!r}; declare it under state")
        checker.values_in((*path, "request"), step.request, scope)
    elif isinstance(step, BranchStep):
        for index, case in enumerate(step.cases):
            checker.names_in((*path, "cases", index, "when"), case.when, scope, template=False)
            _target(checker, (*path, "cases", index, "goto"), case.goto, ids)
        _target(checker, (*path, "default"), step.default, ids)
    elif isinstance(step, FanOutStep):
        _check_fan_out(checker, path, step, scope, ids)
    if not isinstance(step, BranchStep | FanOutStep):
        after = scope | writes
        for key, expression in step.set.items():
            checker.names_in((*path, "set", key), expression, after, template=False)
            if not inside_fan_out and key not in scope:
                checker.add((*path, "set", key), f"{key!r} is not in state; declare it under state")
            writes.add(key)
    if getattr(step, "next", None) is not None:
        if inside_fan_out:
            checker.add((*path, "next"), "steps inside a fan_out run in order; 'next' is not allowed there")
        else:
            _target(checker, (*path, "next"), step.next, ids)
    return writes


def _check_fan_out(checker: _Checker, path: Path, step: FanOutStep, scope: set[str], ids: set[str]) -> None:
    checker.names_in((*path, "over"), step.over, scope, template=False)
    for index, name in enumerate(step.with_):
        if name not in scope:
            checker.add((*path, "with", index), f"{name!r} is not in state")
    declared = checker.spec.state.get(step.collect)
    if declared is None or declared.reducer != "append":
        checker.add((*path, "collect"), f"{step.collect!r} must be a state field with reducer: append")
    if step.set:
        checker.add((*path, "set"), "a fan_out cannot set fields; give its last step a 'set'")
    inner = {step.item, step.collect, *step.with_}
    for index, sub in enumerate(step.steps):
        inner |= _check_step(checker, (*path, "steps", index), sub, inner, ids, inside_fan_out=True)


def _target(checker: _Checker, path: Path, target: str, ids: set[str]) -> None:
    if target != END and target not in ids:
        checker.add(path, f"unknown step {target!r}; expected a step id or 'end'")


def edges(spec: WorkflowSpec) -> dict[str, list[str]]:
    """Step id -> the steps (or 'end') it can lead to, in the top-level flow."""
    steps = spec.steps
    out: dict[str, list[str]] = {}
    for index, step in enumerate(steps):
        following = steps[index + 1].id if index + 1 < len(steps) else END
        if isinstance(step, BranchStep):
            out[step.id] = [case.goto for case in step.cases] + [step.default]
        else:
            out[step.id] = [step.next or following]
    return out


def _check_flow(checker: _Checker, ids: set[str]) -> None:
    graph = {k: [t for t in v if t == END or t in ids] for k, v in edges(checker.spec).items()}
    index_of = {step.id: i for i, step in enumerate(checker.spec.steps)}
    reached = _reachable(checker.spec.steps[0].id, graph)
    for name in graph:
        if name not in reached:
            checker.add(("steps", index_of[name], "id"), f"step {name!r} is never reached from the first step")
    for component in _cycles(graph):
        exits = {t for node in component for t in graph[node] if t not in component}
        first = min(component, key=index_of.__getitem__)
        loop = " -> ".join(sorted(component, key=index_of.__getitem__))
        if not exits:
            checker.add(("steps", index_of[first], "id"), f"cycle without an exit: {loop} -> {first}")
        elif all(isinstance(checker.spec.steps[index_of[n]], BranchStep) for n in component):
            checker.add(("steps", index_of[first], "id"), f"cycle through branches only (runs no step): {loop}")


def _reachable(start: str, graph: Mapping[str, Iterable[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target != END and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _cycles(graph: Mapping[str, list[str]]) -> list[set[str]]:
    """Strongly connected components that contain a cycle (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, []):
            if target == END:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, []):
                found.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return found
