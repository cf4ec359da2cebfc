"""The nodes a spec's steps compile to.

An LLM step runs the registry's LLM-step runner inside its node: ``graphs`` gives it the ``llm_router``
subgraph (rank -> call -> account), so Studio's xray shows the router in every model step, each attempt is
checkpointed with the run, and the tokens stream as the step's. ``versioning`` never imports the router.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import BaseModel, ValidationError

from versioning.errors import ResumeError, StepError
from versioning.expressions import ExpressionEvalError, Template, parse_expression, parse_template
from versioning.spec import ApprovalStep, LlmStep, ToolStep
from versioning.tools import LlmStepRunner, ResumeHandler, Tool

Node = Callable[..., Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class StepContext:
    """What every node of one compiled workflow shares."""

    workflow: str
    default_context: Callable[[], Any]
    model_error: Callable[[str], Exception]
    shadow: bool = False
    llm_step: LlmStepRunner | None = None

    def namespace(self, state: Mapping[str, Any], runtime: Runtime[Any] | None) -> dict[str, Any]:
        """State fields plus ``context`` (the run's knobs, or their defaults)."""
        context = runtime.context if runtime is not None and runtime.context is not None else self.default_context()
        return {**state, "context": context}

    def fail(self, step: str, problem: str) -> StepError:
        """A run-time error naming the workflow and step."""
        return StepError(f"workflow {self.workflow!r}, step {step!r}: {problem}")


def _setter(step_id: str, assignments: Mapping[str, str], shared: StepContext) -> Callable[..., dict[str, Any]]:
    parsed = {key: parse_expression(source) for key, source in assignments.items()}

    def apply(namespace: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
        if not parsed:
            return update
        scope = {**namespace, **update}
        try:
            return update | {key: expression.evaluate(scope) for key, expression in parsed.items()}
        except ExpressionEvalError as exc:
            raise shared.fail(step_id, f"set: {exc}") from None

    return apply


def _values(step_id: str, raw: Mapping[str, Any], shared: StepContext) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Evaluate templates anywhere inside ``raw`` (a request or a tool's args)."""

    def build(value: Any) -> Any:
        if isinstance(value, str):
            template = parse_template(value)
            return template if any(not isinstance(p, str) for p in template.parts) else value
        if isinstance(value, dict):
            return {k: build(v) for k, v in value.items()}
        if isinstance(value, list):
            return [build(v) for v in value]
        return value

    compiled = build(dict(raw))

    def fill(value: Any, namespace: dict[str, Any]) -> Any:
        if isinstance(value, Template):
            return value.value(namespace)
        if isinstance(value, dict):
            return {k: fill(v, namespace) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v, namespace) for v in value]
        return value

    def evaluate(namespace: dict[str, Any]) -> dict[str, Any]:
        try:
            filled: dict[str, Any] = fill(compiled, namespace)
        except ExpressionEvalError as exc:
            raise shared.fail(step_id, str(exc)) from None
        return filled

    return evaluate


def llm_node(step: LlmStep, shared: StepContext, answer: type[BaseModel] | None) -> Node:
    """A model call through the router subgraph; the answer (text or validated JSON) lands in ``into``."""
    user, system = parse_template(step.prompt.user), parse_template(step.prompt.system)
    routing = step.routing
    schema = answer.model_json_schema() if answer is not None else None
    apply = _setter(step.id, step.set, shared)
    run_llm = shared.llm_step
    if run_llm is None:
        raise shared.fail(step.id, "no LLM-step runner in the registry (graphs.workflows.registry() has the router's)")
    # Named in the node's body so LangGraph finds the subgraph there (Studio's xray draws it inside the step).
    subgraph = run_llm.graph

    async def node(state: dict[str, Any], config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
        assert subgraph is not None
        namespace = shared.namespace(state, runtime)
        context = namespace["context"]
        try:
            request: dict[str, Any] = {"prompt": user.render(namespace), "task_type": routing.task_type,
                                       "workflow": shared.workflow}  # fmt: skip
            if step.prompt.system:
                request["system"] = system.render(namespace)
        except ExpressionEvalError as exc:
            raise shared.fail(step.id, f"prompt: {exc}") from None
        strategy = routing.strategy or getattr(context, "strategy", None)
        backend = routing.backend or getattr(context, "backend", None)
        optional = {
            "strategy": strategy, "backend": backend, "max_tokens": routing.max_tokens,
            "max_cost_usd": routing.max_cost_usd, "latency_budget_s": routing.latency_budget_s,
            "response_schema": schema, "required_capabilities": routing.required_capabilities or None,
        }  # fmt: skip
        request |= {key: value for key, value in optional.items() if value is not None}
        result = await run_llm(request, config)
        if result.get("answer") is None:
            raise shared.model_error(f"LLM call failed: {result.get('error') or 'no backend answered'}")
        return apply(namespace, {step.into: _parse(step, shared, answer, result["answer"])})

    return node


def _parse(step: LlmStep, shared: StepContext, answer: type[BaseModel] | None, text: str) -> Any:
    if answer is None:
        return text.strip()
    try:
        return answer.model_validate(json.loads(_unfence(text))).model_dump()
    except (ValueError, ValidationError) as exc:
        raise shared.fail(step.id, f"the model's answer is not a {answer.__name__}: {exc}") from None


def _unfence(text: str) -> str:
    """JSON possibly wrapped in a markdown code fence (as some models answer)."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[-1].rsplit("```", 1)[0]
    return stripped


def tool_node(step: ToolStep, tool: Tool, shared: StepContext) -> Node:
    """A registered callable; in a shadow run a side-effecting tool is skipped."""
    args = _values(step.id, step.args, shared)
    apply = _setter(step.id, step.set, shared)
    is_async = inspect.iscoroutinefunction(tool.func)

    async def node(state: dict[str, Any], runtime: Runtime[Any]) -> dict[str, Any]:
        if shared.shadow and tool.side_effects:
            return {}
        namespace = shared.namespace(state, runtime)
        result: Any = tool.func(state, namespace["context"], **args(namespace))
        update = dict(await result if is_async else result)
        unexpected = set(update) - tool.writes
        if unexpected:
            raise shared.fail(step.id, f"tool {tool.name!r} wrote {sorted(unexpected)}, not declared in its writes")
        return apply(namespace, update)

    return node


def approval_node(step: ApprovalStep, handler: ResumeHandler, shared: StepContext) -> Node:
    """Pause with the request; an answer of the wrong shape is asked for again, the problem shown."""
    request_values = _values(step.id, step.request, shared)
    apply = _setter(step.id, step.set, shared)

    async def node(state: dict[str, Any], runtime: Runtime[Any]) -> dict[str, Any]:
        if shared.shadow:
            return {}  # approvals are suppressed in shadow runs (the run stops here)
        namespace = shared.namespace(state, runtime)
        request = request_values(namespace) | {"instructions": handler.instructions}
        # Raising instead would pin the bad value to this interrupt and every later resume would replay it.
        while True:
            if handler.on_pause is not None:
                paused = handler.on_pause(request, namespace)
                if inspect.isawaitable(paused):
                    await paused
            try:
                answered = handler.func(interrupt(request), namespace)
                update = await answered if inspect.isawaitable(answered) else answered
                break
            except ResumeError as exc:
                request = {**request, "problem": str(exc)}
        return apply(namespace, dict(update))

    return node
