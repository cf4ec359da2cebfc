"""The registry a spec's names resolve against: tool steps, resume handlers, input and context schemas.

``graphs`` fills one registry with the trading workflows' Python (figures, matching, approval validation);
``versioning`` knows none of it. A tool is ``func(state, context, **args) -> partial update`` and declares the
state fields it reads and writes, so a spec naming it is checked before anything runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain_core.runnables import RunnableConfig

ToolFunc = Callable[..., dict[str, Any] | Awaitable[dict[str, Any]]]
ResumeFunc = Callable[[object, Mapping[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]
PauseFunc = Callable[[Mapping[str, Any], Mapping[str, Any]], Awaitable[None] | None]
ASSET_EVENTS = "airflow_asset_events"


@dataclass(frozen=True)
class Tool:
    """A Python callable a tool step runs by name."""

    name: str
    func: ToolFunc
    reads: frozenset[str]
    writes: frozenset[str]
    side_effects: bool = False
    """Acts outside the run (sends, books, files); skipped in shadow runs."""
    description: str = ""


@dataclass(frozen=True)
class ResumeHandler:
    """Validates a human's answer to an approval step and turns it into state fields."""

    name: str
    func: ResumeFunc
    """``func(answer, state)`` (state with ``context``); raises :class:`versioning.errors.ResumeError` naming
    each bad field."""
    writes: frozenset[str]
    instructions: str
    """How to answer (shown to the approver with the request)."""
    check: Callable[[object], object] | None = None
    """The answer's shape alone, without side effects (raises ``ResumeError`` or a ``ValueError`` naming each bad
    field): what the server checks before it accepts a resume for this step. None: only ``func`` checks it."""
    on_pause: PauseFunc | None = None
    """``on_pause(request, state)``, called each time the step is about to pause with ``request`` (again when it
    is resumed, since the node runs again): where ``graphs`` records what waits for a decision."""


class LlmStepRunner(Protocol):
    """Runs an LLM step's model call (``graphs`` provides the router's; ``versioning`` does not import it).

    ``graph`` is the compiled graph the call runs as a subgraph, drawn inside every LLM step by Studio's xray.
    Called with the routed request (prompt, system, task_type, routing hints, response_schema) and the step's
    config, it returns the graph's output: ``answer``, or ``error`` when no backend answered.
    """

    @property
    def graph(self) -> Any:
        """The compiled graph each LLM step runs."""

    async def __call__(self, request: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        """One model call; the subgraph's output."""


def emit_asset_event(state: Mapping[str, Any], context: Any, *, uri: str, extra: Any = None) -> dict[str, Any]:
    """Built-in: an Airflow asset event the bridge posts after the run succeeds."""
    return {ASSET_EVENTS: [{"uri": str(uri), "extra": extra if isinstance(extra, dict) else {}}]}


def _model_error(message: str) -> Exception:
    return RuntimeError(message)


@dataclass
class Registry:
    """Tools, resume handlers and schemas by name."""

    tools: dict[str, Tool] = field(default_factory=dict)
    resume_handlers: dict[str, ResumeHandler] = field(default_factory=dict)
    input_schemas: dict[str, type] = field(default_factory=dict)
    context_schemas: dict[str, type] = field(default_factory=dict)
    model_error: Callable[[str], Exception] = _model_error
    """Builds the exception a model step raises when no backend answered (the message says what was tried)."""
    llm_step: LlmStepRunner | None = None
    """Runs LLM steps (the router subgraph, from ``graphs``); a spec with LLM steps needs one."""

    def __post_init__(self) -> None:
        self.add_tool("emit_asset_event", emit_asset_event, reads=(), writes=(ASSET_EVENTS,))

    def add_tool(
        self,
        name: str,
        func: ToolFunc,
        *,
        reads: tuple[str, ...] | frozenset[str],
        writes: tuple[str, ...] | frozenset[str],
        side_effects: bool = False,
    ) -> Tool:
        """Register ``func`` as tool ``name``."""
        tool = Tool(name, func, frozenset(reads), frozenset(writes), side_effects, (func.__doc__ or "").strip())
        self.tools[name] = tool
        return tool

    def add_resume_handler(
        self, name: str, func: ResumeFunc, *, writes: tuple[str, ...], instructions: str,
        check: Callable[[object], object] | None = None, on_pause: PauseFunc | None = None,
    ) -> ResumeHandler:  # fmt: skip
        """Register ``func`` as resume handler ``name`` (``check``: its side-effect-free shape check)."""
        handler = ResumeHandler(name, func, frozenset(writes), instructions, check, on_pause)
        self.resume_handlers[name] = handler
        return handler
