"""How a graph is served: compiled as a :class:`CheckedGraph` and carrying the analytics handler.

Every server tradeflow runs on (``langgraph dev``, the langgraph-api image, Aegra) applies a client's
``threads.update_state`` through the compiled graph's ``aupdate_state``, which no auth hook sees the values
of. Checking there refuses a value that does not fit the state schema before it is checkpointed, where the
next run would otherwise fail on it.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StateUpdate
from pydantic import TypeAdapter, ValidationError

from analytics.runtime import instrument
from graphs.errors import InvalidInputError
from graphs.server_compat import refusal


class CheckedGraph(CompiledStateGraph):  # type: ignore[type-arg]
    """A compiled graph whose state updates from clients are checked against its state schema first."""

    def __init__(self, *, check_update: Callable[[object], None] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check_update = check_update

    def _check(self, supersteps: Sequence[Sequence[StateUpdate]]) -> None:
        if self.check_update is None:
            return
        try:
            for superstep in supersteps:
                for update in superstep:
                    self.check_update(update.values)
        except InvalidInputError as exc:
            refused = refusal(exc)
            if refused is exc:
                raise
            raise refused from exc

    def bulk_update_state(self, config: RunnableConfig, supersteps: Sequence[Sequence[StateUpdate]]) -> RunnableConfig:
        """Check every update, then apply them as langgraph does."""
        self._check(supersteps)
        return super().bulk_update_state(config, supersteps)

    async def abulk_update_state(
        self, config: RunnableConfig, supersteps: Sequence[Sequence[StateUpdate]]
    ) -> RunnableConfig:
        """Check every update, then apply them as langgraph does."""
        self._check(supersteps)
        return await super().abulk_update_state(config, supersteps)


def _unwrap(hint: Any) -> Any:
    while typing.get_origin(hint) in (typing.NotRequired, typing.Required):
        hint = typing.get_args(hint)[0]
    return hint


def state_update_checker(graph_id: str, state_schema: type) -> Callable[[object], None]:
    """A check of ``update_state`` values against ``state_schema``, key by key (reducer inputs included)."""
    adapters: dict[str, TypeAdapter[Any]] = {}

    def check(values: object) -> None:
        if values is None:
            return
        if not isinstance(values, Mapping):
            raise InvalidInputError(
                graph_id, [("values", f"expected an object of state keys, got {values!r}")], what="state update"
            )
        if not adapters:  # built on first use: start-up pays nothing for a check few runs need
            hints = typing.get_type_hints(state_schema, include_extras=True)
            adapters.update({key: TypeAdapter(_unwrap(hint)) for key, hint in hints.items()})
        problems: list[tuple[str, str]] = []
        for key, value in values.items():
            if key not in adapters:
                problems.append((f"values.{key}", f"unknown state key; keys: {', '.join(sorted(adapters))}"))
                continue
            try:
                adapters[key].validate_python(value, strict=True)
            except ValidationError as exc:
                problems += [(".".join(["values", str(key), *map(str, e["loc"])]), e["msg"]) for e in exc.errors()]
        if problems:
            raise InvalidInputError(graph_id, problems, what="state update")

    return check


def serve(
    builder: StateGraph[Any, Any, Any, Any], *, graph_id: str, name: str, version: str | None = None
) -> CheckedGraph:
    """Compile ``builder`` for the server: state updates checked, analytics attached, id and version in metadata."""
    compiled = builder.compile(name=name)
    attrs = {k: v for k, v in compiled.__dict__.items() if k != "__orig_class__"}
    checked = CheckedGraph(check_update=state_update_checker(graph_id, builder.state_schema), **attrs)
    return instrument(checked, graph_id, version)
