"""Checks of a run's context (the per-run knobs), shared by the API's auth hook and the CLI.

A bad knob is refused the same way everywhere, naming the field, before a run exists.
(State updates are checked by the served graph itself: see :mod:`graphs.serving`.)
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from graphs.errors import InvalidInputError
from graphs.registry import load_builder
from graphs.trade_break_triage.threshold import check_convertible
from router.runtime import process_router

VERSIONED = "versioned_workflow"
# Keys the server itself puts into a run's configurable (and so into the context of a run without one).
_SERVER_KEYS_PREFIXES = ("langgraph_", "__", "x-", "checkpoint_", "thread_", "run_", "assistant_", "graph_", "user_id")


@cache
def _knob_adapter(schema: type, name: str) -> TypeAdapter[Any]:
    # Knob by knob, strictly: a dataclass as a whole validates strictly only from an instance.
    return TypeAdapter(typing.get_type_hints(schema)[name])


@cache
def _context_schema(graph_id: str) -> type | None:
    schema = load_builder(graph_id).context_schema
    return schema if isinstance(schema, type) and dataclasses.is_dataclass(schema) else None


def _known_backends() -> dict[str, str]:
    router = process_router()
    names = {name: name for name in router.backends}
    names.update({backend.model: name for name, backend in router.backends.items()})
    return names


def validate_context(graph_id: str, values: object, *, prefix: str = "context", explicit: bool = True) -> Any:
    """Check a run's context against the graph's context schema; the validated context object.

    ``explicit`` is False when the values came from ``config.configurable`` (the server copies it into the
    context of a run sent without one): unknown keys are then ignored instead of refused.
    """
    schema = _context_schema(graph_id)
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise InvalidInputError(graph_id, [(prefix, f"expected an object of knobs, got {values!r}")], what="context")
    if graph_id == VERSIONED:
        _versioned_context(values, prefix)
        return dict(values)
    if schema is None:
        if explicit and values:
            raise InvalidInputError(graph_id, [(prefix, "this graph takes no context")], what="context")
        return None
    known = {f.name for f in dataclasses.fields(schema)}
    unknown = sorted(k for k in values if k not in known)
    if unknown and explicit:
        listing = ", ".join(sorted(known))
        raise InvalidInputError(
            graph_id, [(f"{prefix}.{k}", f"unknown knob; known: {listing}") for k in unknown], what="context"
        )
    knobs = {k: v for k, v in values.items() if k in known}
    problems: list[tuple[str, str]] = []
    for name, value in knobs.items():
        try:
            knobs[name] = _knob_adapter(schema, name).validate_python(value, strict=True)
        except ValidationError as exc:
            problems += [(".".join([prefix, name, *map(str, e["loc"])]), e["msg"]) for e in exc.errors()]
    if problems:
        raise InvalidInputError(graph_id, problems, what="context")
    context = schema(**knobs)
    backend = knobs.get("backend")
    if backend:
        backends = _known_backends()
        if backend not in backends:
            listing = ", ".join(sorted(set(backends.values())))
            raise InvalidInputError(
                graph_id,
                [(f"{prefix}.backend", f"unknown backend {backend!r}; the backend table has: {listing}")],
                what="context",
            )
    return context


def _versioned_context(values: Mapping[str, Any], prefix: str) -> None:
    """``versioned_workflow``: check the fields that pick a version.

    The other keys are the workflow's own knobs, checked against the version the run resolves, when it
    resolves (the version is not known before).
    """
    expected = {"workflow": (str, "the workflow id"), "label": (str, "a label name"), "unit_key": (str, "text"),
                "version": (int, "a version number")}  # fmt: skip
    problems = [
        (f"{prefix}.{key}", f"expected {what}, got {values[key]!r}")
        for key, (kind, what) in expected.items()
        if values.get(key) is not None and (not isinstance(values[key], kind) or isinstance(values[key], bool))
    ]
    if problems:
        raise InvalidInputError(VERSIONED, problems, what="context")


def context_from_run(graph_id: str, kwargs: Mapping[str, Any]) -> Any:
    """Check the context of a run as the server hands it to the auth hook (``RunsCreate.kwargs``)."""
    configurable = ((kwargs.get("config") or {}).get("configurable")) or {}
    explicit = bool(configurable.get("__context_provided__"))
    context = kwargs.get("context") or {}
    if not explicit:
        context = {k: v for k, v in context.items() if not str(k).startswith(_SERVER_KEYS_PREFIXES)}
    return validate_context(graph_id, context, explicit=explicit)


def check_input_with_context(graph_id: str, payload: Mapping[str, Any] | None, context: Any) -> None:
    """Checks that need the input and the knobs together (a triage break's currency against the threshold's)."""
    if graph_id == "trade_break_triage" and payload is not None:
        check_convertible(payload, str(getattr(context, "threshold_currency", None) or "USD"))
