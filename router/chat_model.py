"""``RoutedChatModel``: the router as a LangChain chat model, so any node can call it like ``ChatOpenAI``.

Streams and faults:

* ``invoke`` / ``ainvoke`` while a streaming handler listens (a graph streamed with ``stream_mode="messages"``,
  ``astream_events``): tokens go to the listeners as they arrive, and nothing is committed until the call
  returns, so a stream that is cut, stalls or breaks after its first token is restarted on the next backend.
  The abandoned partial message is closed with a last chunk whose ``response_metadata`` says
  ``tradeflow_superseded: true`` (and names the message that replaces it), a ``tradeflow.stream_superseded``
  custom event is sent, and the answer streams under a new message id: one answer, one id.
* ``stream`` / ``astream``: the caller consumes the tokens itself, so it chooses (``stream_faults``): ``fail``
  (the default) raises :class:`~router.errors.StreamInterruptedError` after a mid-stream fault, ``buffer``
  holds the tokens until the answer is complete and restarts on the next backend instead.
* The sync ``invoke`` and ``stream`` run on one event loop in a daemon thread (:mod:`router.loop_thread`):
  they work from plain scripts, from several threads at once and from inside a running loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tracers._streaming import _StreamingCallbackHandler
from pydantic import BaseModel, ConfigDict

from router.config import Strategy
from router.engine import OnRestart, Router
from router.loop_thread import ROUTER_LOOP
from router.record import SUPERSEDED_EVENT, AttemptRecord, DecisionRecord
from router.request import RouteRequest
from router.tokens import estimate_tokens

StreamFaults = Literal["fail", "buffer"]


def prompt_text(messages: Sequence[BaseMessage]) -> str:
    """All message text, for token estimates (and the record, when prompt logging is on)."""
    return "\n".join(m.text for m in messages)


class RoutedChatModel(BaseChatModel):
    """A chat model whose every call is routed; the decision record rides on the result.

    The :class:`~router.record.DecisionRecord` is in ``llm_output["router_decision"]`` and the
    generation's ``generation_info`` (what callbacks receive in ``on_llm_end``); the answering backend
    and model are in ``response_metadata``. A failed call raises a :class:`~router.errors.RouterError`
    whose ``decision`` is the record (callbacks receive it in ``on_llm_error``).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    router: Router
    workflow: str = "adhoc"
    task_type: str = "chat"
    strategy: Strategy | None = None
    priority: int = 0
    max_tokens: int = 1024
    required_capabilities: frozenset[str] = frozenset()
    max_cost_usd: float | None = None
    latency_budget_s: float | None = None
    only: frozenset[str] | None = None
    stream_faults: StreamFaults = "fail"
    """For ``stream``/``astream``: on a mid-stream fault, ``fail`` (raise) or ``buffer`` (hold tokens, restart)."""

    @property
    def _llm_type(self) -> str:
        return "tradeflow-router"

    def _request(self, messages: Sequence[BaseMessage], schema: dict[str, Any] | None) -> RouteRequest:
        required = self.required_capabilities | {"json"} if schema is not None else self.required_capabilities
        return RouteRequest(
            prompt_tokens=estimate_tokens(prompt_text(messages)),
            max_tokens=self.max_tokens,
            task_type=self.task_type,
            priority=self.priority,
            required_capabilities=required,
            max_cost_usd=self.max_cost_usd,
            latency_budget_s=self.latency_budget_s,
            strategy=self.strategy,
            workflow=self.workflow,
        )

    async def _execute(
        self, messages: Sequence[BaseMessage], schema: dict[str, Any] | None, emit: Any = None,
        on_restart: OnRestart | None = None,
    ) -> tuple[AIMessage, DecisionRecord]:  # fmt: skip
        return await self.router.execute(
            messages, self._request(messages, schema), schema=schema, emit=emit, only=self.only,
            prompt_text=prompt_text(messages) if self.router.config.log_prompts else None, on_restart=on_restart,
        )  # fmt: skip

    def _should_stream(self, *, async_api: bool, run_manager: Any = None, **kwargs: Any) -> bool:
        # invoke/ainvoke never go through _astream, whose chunks LangChain would merge into the answer (a
        # superseded partial included): _agenerate streams to the listeners itself. stream/astream pass stream=True.
        if not kwargs.get("stream"):
            return False
        return super()._should_stream(async_api=async_api, run_manager=run_manager, **kwargs)

    # --- invoke -------------------------------------------------------------------------------------
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        schema = kwargs.pop("response_schema", None)
        if run_manager is None or not _streams(run_manager.handlers):
            message, record = ROUTER_LOOP.run(self._execute(messages, schema))
            return _result(message, record)
        run_id = f"run-{run_manager.run_id}"
        result: ChatResult | None = None
        for kind, value in ROUTER_LOOP.iterate(lambda: self._events(messages, schema, run_id, restart=True)):
            if kind == "chunk":
                run_manager.on_llm_new_token(value.message.text, chunk=value)
            elif kind == "superseded":
                events = CallbackManager(
                    handlers=run_manager.handlers, parent_run_id=run_manager.parent_run_id,
                    tags=run_manager.tags, metadata=run_manager.metadata,
                )  # fmt: skip
                events.on_custom_event(SUPERSEDED_EVENT, value, run_id=run_manager.run_id)
            elif kind == "result":
                result = value
        assert result is not None
        return result

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        schema = kwargs.pop("response_schema", None)
        if run_manager is None or not _streams(run_manager.handlers):
            message, record = await self._execute(messages, schema)
            return _result(message, record)
        result: ChatResult | None = None
        async for kind, value in self._events(messages, schema, f"run-{run_manager.run_id}", restart=True):
            if kind == "chunk":
                await run_manager.on_llm_new_token(value.message.text, chunk=value)
            elif kind == "superseded":
                events = AsyncCallbackManager(
                    handlers=run_manager.handlers, parent_run_id=run_manager.parent_run_id,
                    tags=run_manager.tags, metadata=run_manager.metadata,
                )  # fmt: skip
                await events.on_custom_event(SUPERSEDED_EVENT, value, run_id=run_manager.run_id)
            elif kind == "result":
                result = value
        assert result is not None
        return result

    async def _events(
        self, messages: Sequence[BaseMessage], schema: dict[str, Any] | None, run_id: str, *, restart: bool
    ) -> AsyncIterator[tuple[str, Any]]:
        """The call as events: ``chunk`` (a token, with its message id), ``superseded``, then ``result``."""
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        ids = [run_id]  # the message id of each attempt that streamed, the current one last

        async def emit(chunk: AIMessageChunk) -> None:
            message = AIMessageChunk(content=chunk.content, id=ids[-1])
            await queue.put(("chunk", ChatGenerationChunk(message=message)))

        async def on_restart(attempt: AttemptRecord) -> None:
            old = ids[-1]
            ids.append(f"{run_id}-{len(ids)}")
            attempt.message_id = old
            info = {"superseded_message_id": old, "replaced_by": ids[-1], "backend": attempt.backend,
                    "error_class": str(attempt.error_class)}  # fmt: skip
            closing = AIMessageChunk(content="", id=old, chunk_position="last",
                                     response_metadata={"tradeflow_superseded": True, **info})  # fmt: skip
            await queue.put(("chunk", ChatGenerationChunk(message=closing)))
            await queue.put(("superseded", info))

        async def run() -> tuple[AIMessage, DecisionRecord]:
            try:
                return await self._execute(messages, schema, emit, on_restart if restart else None)
            finally:
                await queue.put(("done", None))

        task = asyncio.create_task(run(), name=f"routed-call-{run_id or 'stream'}")
        try:
            while (item := await queue.get())[0] != "done":
                yield item
            message, record = await task
        finally:
            if not task.done():
                # The caller went away (cancelled, or stopped reading): the call must end before we do, so
                # whatever it claimed (a trial call, a reservation) is given back now, not when the loop gets to it.
                task.cancel()
                await asyncio.wait([task])
            if not task.cancelled():
                task.exception()  # retrieved: raised to the caller above, or moot once it left
        message.id = ids[-1]
        if record.attempts and any(a.message_id for a in record.attempts):
            record.attempts[-1].message_id = message.id
        yield "result", _result(message, record)

    # --- stream ---------------------------------------------------------------------------------------
    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        schema = kwargs.pop("response_schema", None)
        buffer = self.stream_faults == "buffer"
        held: list[ChatGenerationChunk] = []
        result: ChatResult | None = None
        async for kind, value in self._events(messages, schema, "", restart=buffer):
            if kind == "chunk":
                # LangChain gives every chunk without an id this run's id: text and closing chunk alike.
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=value.message.content))
                if not buffer:
                    yield chunk
                elif value.message.response_metadata.get("tradeflow_superseded"):
                    held.clear()
                else:
                    held.append(chunk)
            elif kind == "result":
                result = value
        for chunk in held:
            yield chunk
        assert result is not None
        generation = result.generations[0]
        assert isinstance(generation.message, AIMessage)
        tail = AIMessageChunk(
            content="",
            response_metadata=generation.message.response_metadata,
            usage_metadata=generation.message.usage_metadata,
            chunk_position="last",
        )
        yield ChatGenerationChunk(message=tail, generation_info=generation.generation_info)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        yield from ROUTER_LOOP.iterate(lambda: self._astream(messages, stop, None, **kwargs))

    def with_structured_output(
        self, schema: type[BaseModel] | dict[str, Any], *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, Any]:
        """Ask the routed backend for JSON fitting ``schema`` and parse it (only ``json``-capable backends)."""
        if include_raw:
            raise NotImplementedError("include_raw is not supported by RoutedChatModel")
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            parser: Any = PydanticOutputParser(pydantic_object=schema)
            json_schema = schema.model_json_schema()
        else:
            parser = JsonOutputParser()
            json_schema = dict(schema)
        structured: Runnable[LanguageModelInput, Any] = self.bind(response_schema=json_schema) | parser
        return structured


def _streams(handlers: Sequence[Any]) -> bool:
    """Whether a handler wants tokens as they arrive (langgraph's messages stream, astream_events)."""
    return any(isinstance(h, _StreamingCallbackHandler) for h in handlers)


def _result(message: AIMessage, record: DecisionRecord) -> ChatResult:
    info = {"router_decision": record}
    return ChatResult(generations=[ChatGeneration(message=message, generation_info=info)], llm_output=info)
