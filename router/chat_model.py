"""``RoutedChatModel``: the router as a LangChain chat model, so any node can call it like ``ChatOpenAI``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import BaseModel, ConfigDict

from router.config import Strategy
from router.engine import Router
from router.ledger import estimate_tokens
from router.record import DecisionRecord
from router.request import RouteRequest

_DONE = object()


def prompt_text(messages: Sequence[BaseMessage]) -> str:
    """All message text, for token estimates (and the record, when prompt logging is on)."""
    return "\n".join(m.text for m in messages)


class RoutedChatModel(BaseChatModel):
    """A chat model whose every call is routed; the decision record rides on the result.

    The :class:`~router.record.DecisionRecord` is in ``llm_output["router_decision"]`` and the
    generation's ``generation_info`` (what callbacks receive in ``on_llm_end``); the answering backend
    and model are in ``response_metadata``.
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

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return asyncio.run(self._agenerate(messages, stop, None, **kwargs))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        schema = kwargs.pop("response_schema", None)
        message, record = await self.router.execute(
            messages, self._request(messages, schema), schema=schema, only=self.only,
            prompt_text=prompt_text(messages) if self.router.config.log_prompts else None,
        )  # fmt: skip
        info = {"router_decision": record}
        return ChatResult(generations=[ChatGeneration(message=message, generation_info=info)], llm_output=info)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        schema = kwargs.pop("response_schema", None)
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def emit(chunk: AIMessageChunk) -> None:
            await queue.put(chunk)

        async def run() -> tuple[Any, DecisionRecord]:
            try:
                return await self.router.execute(
                    messages, self._request(messages, schema), schema=schema, emit=emit, only=self.only,
                    prompt_text=prompt_text(messages) if self.router.config.log_prompts else None,
                )  # fmt: skip
            finally:
                await queue.put(_DONE)

        task = asyncio.create_task(run())
        try:
            while (item := await queue.get()) is not _DONE:
                yield ChatGenerationChunk(message=AIMessageChunk(content=item.content, id=item.id))
            message, record = await task
        finally:
            if not task.done():
                task.cancel()
        tail = AIMessageChunk(
            content="",
            response_metadata=message.response_metadata,
            usage_metadata=message.usage_metadata,
            chunk_position="last",
        )
        yield ChatGenerationChunk(message=tail, generation_info={"router_decision": record})

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
