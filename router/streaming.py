"""Tokens of the router subgraph's calls, streamed to whoever listens (``stream_mode="messages"``, events).

LangGraph's messages stream mode hears a model call through a chat-model run on the callbacks: its tokens
(``on_llm_new_token``) and its end. The subgraph's ``call_backend`` opens one such run per attempt, for the
streaming handlers only (analytics counts the call from the decision record, not from this run), and streams
the attempt's tokens under the message id ``<request_id>-<attempt index>``.

Where the run is opened decides where a client sees it. A workflow's model step runs the router as a subgraph,
and LangGraph streams a subgraph's messages only to clients that ask for subgraphs; the model step is what a
client of the workflow sees, so :class:`RouterStep` hands the step's own listeners down to ``call_backend``
(:data:`STEP_LISTENERS`), and the tokens stream as the step's. ``llm_router`` served on its own streams from
``call_backend`` directly.

A stream that breaks after its first token is restarted on the next backend (nothing is committed before the
node ends): the partial message is closed by a last chunk whose ``response_metadata`` says
``tradeflow_superseded: true`` and ``replaced_by: <id>``, a ``tradeflow.stream_superseded`` custom event says
the same, and the answer streams under the next attempt's id.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    BaseCallbackHandler,
    BaseCallbackManager,
)
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, LLMResult
from langchain_core.runnables import RunnableConfig
from langchain_core.tracers._streaming import _StreamingCallbackHandler

from router.record import SUPERSEDED_EVENT, AttemptRecord

STEP_LISTENERS: ContextVar[AsyncCallbackManager | None] = ContextVar("tradeflow_router_step_listeners", default=None)
"""The streaming listeners of the model step running the router subgraph (set by :class:`RouterStep`)."""
RUN_NAME = "llm_router"


def listeners(config: RunnableConfig) -> AsyncCallbackManager | None:
    """The config's streaming handlers as a callback manager, or None when none listens (the cheap common case)."""
    callbacks = config.get("callbacks")
    if isinstance(callbacks, BaseCallbackManager):
        handlers: list[BaseCallbackHandler] = [
            h for h in callbacks.handlers if isinstance(h, _StreamingCallbackHandler)
        ]
        if not handlers:
            return None
        return AsyncCallbackManager(
            handlers=handlers, parent_run_id=callbacks.parent_run_id, tags=callbacks.tags,
            inheritable_tags=callbacks.inheritable_tags, metadata=callbacks.metadata,
            inheritable_metadata=callbacks.inheritable_metadata,
        )  # fmt: skip
    handlers = [h for h in callbacks or [] if isinstance(h, _StreamingCallbackHandler)]
    if not handlers:
        return None
    return AsyncCallbackManager(
        handlers=handlers, tags=list(config.get("tags") or []), metadata=dict(config.get("metadata") or {})
    )


def message_id(request_id: str, attempt: int) -> str:
    """The id an attempt's streamed message carries."""
    return f"{request_id}-{attempt}"


@dataclass
class AttemptStream:
    """One attempt's tokens as one chat-model run."""

    run: AsyncCallbackManagerForLLMRun
    manager: AsyncCallbackManager
    message_id: str
    next_id: str
    streamed: bool = False

    @classmethod
    async def open(
        cls, manager: AsyncCallbackManager, messages: Sequence[BaseMessage], request_id: str, attempt: int
    ) -> AttemptStream:
        """Start the run the attempt's tokens stream on."""
        [run] = await manager.on_chat_model_start({"name": RUN_NAME}, [list(messages)], name=RUN_NAME)
        return cls(run, manager, message_id(request_id, attempt), message_id(request_id, attempt + 1))

    async def emit(self, chunk: AIMessageChunk) -> None:
        """A token, under this attempt's message id."""
        self.streamed = True
        message = AIMessageChunk(content=chunk.content, id=self.message_id)
        await self.run.on_llm_new_token(message.text, chunk=ChatGenerationChunk(message=message))

    async def superseded(self, attempt: AttemptRecord) -> None:
        """The attempt broke after its first token: close its partial message and say what replaces it."""
        attempt.message_id = self.message_id
        info = {"superseded_message_id": self.message_id, "replaced_by": self.next_id, "backend": attempt.backend,
                "error_class": str(attempt.error_class)}  # fmt: skip
        closing = AIMessageChunk(content="", id=self.message_id, chunk_position="last",
                                 response_metadata={"tradeflow_superseded": True, **info})  # fmt: skip
        await self.run.on_llm_new_token("", chunk=ChatGenerationChunk(message=closing))
        await self.manager.on_custom_event(SUPERSEDED_EVENT, info, run_id=self.run.run_id)

    async def answered(self, message: AIMessage, attempt: AttemptRecord) -> None:
        """The attempt answered: close the message with the answering model, end the run."""
        if self.streamed:
            attempt.message_id = self.message_id
            closing = AIMessageChunk(content="", id=self.message_id, chunk_position="last",
                                     response_metadata=dict(message.response_metadata),
                                     usage_metadata=message.usage_metadata)  # fmt: skip
            await self.run.on_llm_new_token("", chunk=ChatGenerationChunk(message=closing))
        final = AIMessage(content=message.content, id=self.message_id, response_metadata=message.response_metadata)
        await self.run.on_llm_end(LLMResult(generations=[[ChatGeneration(message=final)]]))

    async def failed(self, error: BaseException) -> None:
        """The attempt ended without an answer (failed, restarted, cancelled)."""
        await self.run.on_llm_error(error)


async def open_attempt_stream(
    config: RunnableConfig, messages: Sequence[BaseMessage], request_id: str, attempt: int
) -> AttemptStream | None:
    """The attempt's stream: to the enclosing model step's listeners, else this node's; None when none listens."""
    manager = STEP_LISTENERS.get() or listeners(config)
    if manager is None:
        return None
    return await AttemptStream.open(manager, messages, request_id, attempt)


@dataclass(frozen=True)
class RouterStep:
    """A workflow's model step: runs the router subgraph, its tokens streamed as the step's own.

    ``graph`` is the compiled router subgraph (a compiled spec's LLM step draws it in Studio's xray).
    """

    graph: Any

    async def __call__(self, request: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        """Run one routed call for a model step; the result is the subgraph's output."""
        token = STEP_LISTENERS.set(listeners(config)) if STEP_LISTENERS.get() is None else None
        try:
            result: dict[str, Any] = await self.graph.ainvoke(request, config)
        finally:
            if token is not None:
                STEP_LISTENERS.reset(token)
        return result
