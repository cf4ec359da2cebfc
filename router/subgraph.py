"""The router as a LangGraph graph: rank -> call -> (next candidate on failure) -> account.

Studio shows the route and every attempt in state. Served on its own as ``llm_router``; the same
steps (``Router.start`` / ``attempt_next`` / ``finish``) back ``RoutedChatModel``.

State is plain data that every checkpointer stores and loads (the decision record as JSON-safe values, times
as wall-clock Unix seconds), so a run paused in one process resumes in another with the right deadline. A
call that ends without an answer returns ``error`` and ``error_type``; analytics records such a run as an
error.

``rank_backends`` and ``call_backend`` route with ``Command(goto=...)`` (Studio draws their edges from the return
types): a conditional edge re-reads the state after its node (LangGraph copies every channel to do so), which
was a measurable part of the subgraph's cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from langchain_core.callbacks import BaseCallbackManager, adispatch_custom_event
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig, ensure_config
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from router.engine import Progress
from router.errors import RouterError
from router.record import DECISION_EVENT, DecisionRecord
from router.request import RouteRequest
from router.runtime import process_router
from router.state import RouterInput, RouterOutput, RouterState
from router.streaming import open_attempt_stream
from router.tokens import estimate_tokens


def _messages(state: RouterState) -> list[BaseMessage]:
    messages: list[BaseMessage] = [SystemMessage(state["system"])] if state.get("system") else []
    return [*messages, HumanMessage(state["prompt"])]


def _request(state: RouterState) -> RouteRequest:
    text = state["prompt"] + state.get("system", "")
    return RouteRequest(
        prompt_tokens=estimate_tokens(text),
        max_tokens=state.get("max_tokens", 1024),
        task_type=state.get("task_type", "chat"),
        required_capabilities=frozenset(state.get("required_capabilities", []))
        | ({"json"} if state.get("response_schema") is not None else set()),
        max_cost_usd=state.get("max_cost_usd"),
        latency_budget_s=state.get("latency_budget_s"),
        strategy=state.get("strategy"),
        workflow=state.get("workflow", "llm_router"),
    )


def _progress(state: RouterState) -> Progress:
    return Progress(
        record=DecisionRecord.model_validate(state["decision"]),
        queue=list(state.get("queue", [])),
        deadline_at=state.get("deadline_at", 0.0),
        max_tokens=state.get("max_tokens", 1024),
        retried=set(state.get("retried", [])),
        previous=state.get("previous"),
        delay_s=state.get("delay_s"),
    )


def _failure(exc: RouterError) -> dict[str, Any]:
    update: dict[str, Any] = {"error": str(exc), "error_type": type(exc).__name__}
    if exc.decision is not None:
        update["decision"] = exc.decision.model_dump(mode="json")
    return update


async def rank_backends(state: RouterState) -> Command[Literal["call_backend", "account"]]:
    """Score every backend for this request; record candidates and exclusions."""
    try:
        backend = state.get("backend")
        progress = process_router().start(_request(state), only=frozenset({backend}) if backend else None)
    except RouterError as exc:
        failed = _failure(exc) | {"candidates": [], "queue": []}
        return Command(update=failed, goto=route_after_rank(failed))
    record = progress.record
    update: dict[str, Any] = {
        "candidates": [c.model_dump() for c in record.candidates],
        "excluded": record.excluded,
        "queue": progress.queue,
        "retried": [],
        "previous": None,
        "delay_s": None,
        "started_at": record.started_at,
        "deadline_at": progress.deadline_at,
        "decision": record.model_dump(mode="json"),
    }
    return Command(update=update, goto=route_after_rank(update))


async def call_backend(state: RouterState, config: RunnableConfig) -> Command[Literal["call_backend", "account"]]:
    """One attempt on the next candidate (after any back-off), its tokens streamed to any listener."""
    router = process_router()
    progress = _progress(state)
    record = progress.record
    before = len(record.attempts)
    messages = _messages(state)
    stream = await open_attempt_stream(config, messages, record.request_id, before)
    update: dict[str, Any] = {}
    try:
        answer = await router.attempt_next(
            progress, messages, schema=state.get("response_schema"), emit=stream.emit if stream else None,
            on_restart=stream.superseded if stream else None,
        )  # fmt: skip
    except RouterError as exc:
        answer = None
        update = _failure(exc)
        if stream is not None:
            await stream.failed(exc)
    except BaseException as exc:
        if stream is not None:
            await stream.failed(exc)
        raise
    if answer is not None:
        if stream is not None:
            await stream.answered(answer, record.attempts[-1])
        update |= {"answer": answer.text, "answered_by": record.answered_by, "answered_model": record.answered_model}
    elif stream is not None and len(record.attempts) > before and "error" not in update:
        await stream.failed(RouterError(str(record.attempts[-1].error)))
    update |= {
        "attempts": [a.model_dump(mode="json") for a in record.attempts[before:]],
        "queue": progress.queue,
        "retried": sorted(progress.retried),
        "previous": progress.previous,
        "delay_s": progress.delay_s,
        "excluded": record.excluded,
        "decision": record.model_dump(mode="json"),
    }
    return Command(update=update, goto=route_after_call(update))


def route_after_call(update: Mapping[str, Any]) -> Literal["call_backend", "account"]:
    """Where ``call_backend`` goes after ``update``: the next try until there is an answer or an error."""
    return "account" if update.get("answer") is not None or update.get("error") else "call_backend"


def route_after_rank(update: Mapping[str, Any]) -> Literal["call_backend", "account"]:
    """After ``rank_backends``'s ``update``: straight to accounting when no backend is eligible."""
    return "account" if update.get("error") else "call_backend"


async def account(state: RouterState) -> dict[str, Any]:
    """Close and log the decision record."""
    if "decision" not in state:
        return {}
    progress = _progress(state)
    process_router().finish(progress)
    decision = progress.record.model_dump(mode="json")
    if _has_listeners():
        await adispatch_custom_event(DECISION_EVENT, decision)
    return {"decision": decision}


def _has_listeners() -> bool:
    """Whether this run has callback handlers (analytics): the event costs time, so send it only then."""
    callbacks = ensure_config().get("callbacks")
    if isinstance(callbacks, BaseCallbackManager):
        return bool(callbacks.handlers)
    return bool(callbacks)


builder = StateGraph(RouterState, input_schema=RouterInput, output_schema=RouterOutput)
builder.add_node("rank_backends", rank_backends)
builder.add_node("call_backend", call_backend)
builder.add_node("account", account)
builder.add_edge(START, "rank_backends")
builder.add_edge("account", END)

graph = builder.compile(name="LLMRouter")
