"""One attempt on one backend: the call, its time limits, completeness checks and usage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import add_ai_message_chunks
from langchain_core.runnables import RunnableConfig

from router.classify import classify
from router.config import BackendConfig
from router.errors import AttemptError, ErrorClass
from router.record import Usage
from router.tokens import count_tokens

Emit = Callable[[AIMessageChunk], Awaitable[None]]
# The inner client call must not report to the caller's callbacks: the routed model reports once.
_QUIET: RunnableConfig = {"callbacks": []}


@dataclass
class AttemptResult:
    """A successful attempt."""

    message: AIMessage
    ttft_s: float
    latency_s: float
    usage: Usage
    streamed: bool = False


def schema_kwargs(backend: BackendConfig, schema: dict[str, Any] | None) -> dict[str, Any]:
    """How to ask this kind of backend for JSON that fits ``schema``."""
    if schema is None:
        return {}
    if backend.kind == "ollama":
        return {"format": schema}
    name = str(schema.get("title") or "answer")
    return {"response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}}


def _finished(message: AIMessage | AIMessageChunk) -> bool:
    meta = message.response_metadata
    return bool(meta.get("finish_reason") or meta.get("done_reason") or meta.get("done"))


def _usage(backend: BackendConfig, messages: Sequence[BaseMessage], message: AIMessage | AIMessageChunk) -> Usage:
    reported = message.usage_metadata
    if reported and (reported.get("input_tokens") or reported.get("output_tokens")):
        cached = (reported.get("input_token_details") or {}).get("cache_read") or 0
        # The validating constructor: faster than pydantic's model_construct for a model this small.
        return Usage(
            input_tokens=int(reported["input_tokens"]),
            output_tokens=int(reported["output_tokens"]),
            cached_input_tokens=int(cached),
            provenance="provider",
        )
    prompt = "\n".join(str(m.content) for m in messages)
    input_tokens, provenance = count_tokens(backend.model, prompt)
    output_tokens, _ = count_tokens(backend.model, message.text)
    return Usage(input_tokens=input_tokens, output_tokens=output_tokens, provenance=provenance)


def _partial_usage(
    backend: BackendConfig, messages: Sequence[BaseMessage], chunks: list[AIMessageChunk]
) -> Usage | None:
    """What a stream that failed part-way consumed (the provider bills it): None when no token arrived."""
    if not any(c.content for c in chunks):
        return None
    merged = add_ai_message_chunks(chunks[0], *chunks[1:]) if len(chunks) > 1 else chunks[0]
    return _usage(backend, messages, merged)


def _direct(client: BaseChatModel) -> bool:
    """Whether the client's own generate/stream may be called without LangChain's run around them.

    That run (callback manager, invocation params, message ids) costs a few hundred microseconds per call and
    reports to nobody here: the routed model or subgraph reports the call once. A client with a cache, a rate
    limiter or v1 output needs what the run does, and goes through ``ainvoke``/``astream``.
    """
    return client.cache is None and client.rate_limiter is None and getattr(client, "output_version", None) != "v1"


async def _generate(client: BaseChatModel, messages: list[BaseMessage], kwargs: dict[str, Any]) -> BaseMessage:
    if not _direct(client):
        return await client.ainvoke(messages, config=_QUIET, **kwargs)
    result = await client._agenerate(messages, **kwargs)
    generation = result.generations[0]
    message = generation.message
    # What BaseChatModel adds to the message: the generation's info and the call's output in its metadata.
    message.response_metadata = {**(result.llm_output or {}), **(generation.generation_info or {}),
                                 **message.response_metadata}  # fmt: skip
    return message


async def _stream(client: BaseChatModel, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AsyncIterator[Any]:
    if not _direct(client):
        async for streamed in client.astream(messages, config=_QUIET, **kwargs):
            yield streamed
        return
    chunks = client._astream(messages, **kwargs)
    try:
        async for chunk in chunks:
            message = chunk.message
            if chunk.generation_info:
                message.response_metadata = {**chunk.generation_info, **message.response_metadata}
            yield message
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]


async def run_attempt(
    client: BaseChatModel,
    backend: BackendConfig,
    messages: Sequence[BaseMessage],
    *,
    first_token_s: float,
    stream_idle_s: float,
    schema: dict[str, Any] | None = None,
    emit: Emit | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> AttemptResult:
    """Call ``backend`` once; raise :class:`AttemptError` for anything short of a complete answer.

    ``first_token_s`` bounds the silence before the first token (before the whole answer, unstreamed);
    ``stream_idle_s`` bounds each gap between streamed chunks.
    """
    kwargs = schema_kwargs(backend, schema)
    started = clock()
    if emit is None:
        try:
            async with asyncio.timeout(first_token_s):
                reply = await _generate(client, list(messages), kwargs)
        except TimeoutError:
            raise AttemptError(ErrorClass.FIRST_TOKEN_TIMEOUT, f"no answer within {first_token_s:g}s") from None
        except Exception as exc:
            # classify() knows every client failure and re-raises anything else unchanged (a bug stays a bug).
            raise classify(exc, started=False) from exc
        latency = clock() - started
        if not isinstance(reply, AIMessage) or not _finished(reply):
            error = AttemptError(ErrorClass.STREAM_BROKEN, "answer ended without a finish reason")
            if isinstance(reply, AIMessage) and reply.content:
                error.usage = _usage(backend, messages, reply)
            raise error
        return AttemptResult(reply, latency, latency, _usage(backend, messages, reply))
    limits = (first_token_s, stream_idle_s)
    return await _stream_attempt(client, backend, messages, kwargs, limits, emit, clock, started)


async def _stream_attempt(
    client: BaseChatModel,
    backend: BackendConfig,
    messages: Sequence[BaseMessage],
    kwargs: dict[str, Any],
    limits: tuple[float, float],
    emit: Emit,
    clock: Callable[[], float],
    started: float,
) -> AttemptResult:
    first_token_s, stream_idle_s = limits
    loop = asyncio.get_running_loop()
    chunks: list[AIMessageChunk] = []
    first_at: float | None = None
    emitted = False
    stream = _stream(client, list(messages), kwargs)
    try:
        async with asyncio.timeout(first_token_s) as guard:
            async for chunk in stream:
                if not isinstance(chunk, AIMessageChunk):
                    continue
                if first_at is None:
                    first_at = clock()
                guard.reschedule(loop.time() + stream_idle_s)
                chunks.append(chunk)
                if chunk.content:
                    await emit(chunk)
                    emitted = True
    except TimeoutError:
        kind = ErrorClass.FIRST_TOKEN_TIMEOUT if first_at is None else ErrorClass.STREAM_IDLE_TIMEOUT
        limit = first_token_s if first_at is None else stream_idle_s
        error = AttemptError(kind, f"silent for {limit:g}s", emitted=emitted)
        error.usage = _partial_usage(backend, messages, chunks)
        raise error from None
    except Exception as exc:
        # As above: known client failures become AttemptErrors, anything else propagates as it was.
        error = classify(exc, started=first_at is not None)
        error.emitted = emitted
        error.usage = _partial_usage(backend, messages, chunks)
        raise error from exc
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    if not chunks:
        raise AttemptError(ErrorClass.STREAM_BROKEN, "stream ended before any chunk")
    merged = add_ai_message_chunks(chunks[0], *chunks[1:]) if len(chunks) > 1 else chunks[0]
    if not _finished(merged):
        error = AttemptError(ErrorClass.STREAM_BROKEN, "stream ended without a finish reason", emitted=emitted)
        error.usage = _partial_usage(backend, messages, chunks)
        raise error
    message = AIMessage(
        content=merged.content,
        response_metadata=merged.response_metadata,
        usage_metadata=merged.usage_metadata,
        id=merged.id,
    )
    assert first_at is not None
    return AttemptResult(message, first_at - started, clock() - started, _usage(backend, messages, message), True)
