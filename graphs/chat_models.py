"""The model seam: the one place the trading graphs get a chat model and call it.

Every LLM call in the graphs goes through :func:`generate_text` or :func:`generate_structured`, which
call a :class:`~router.chat_model.RoutedChatModel`: each call is routed over the backend table
(``TRADEFLOW_ROUTER_CONFIG``, or the committed default) by cost, speed and health.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TypeVar

from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel, ValidationError

from core.settings import Settings
from graphs.errors import LLMResponseError, LLMUnavailableError
from router.chat_model import RoutedChatModel
from router.clients import describe
from router.config import Strategy
from router.errors import RouterError
from router.probes import probe_all
from router.runtime import process_router, router_for

logger = logging.getLogger(__name__)

SchemaT = TypeVar("SchemaT", bound=BaseModel)

HOW_TO_CONFIGURE = (
    "Configure a model in .env: set OPENAI_API_KEY (and optionally OPENAI_BASE_URL, TRADEFLOW_OPENAI_MODEL) "
    "for OpenAI, VLLM_BASE_URL for a vLLM server, or start Ollama and set OLLAMA_BASE_URL and "
    "TRADEFLOW_OLLAMA_MODEL; TRADEFLOW_ROUTER_CONFIG names a backend table of your own (see .env.example)."
)


def build_chat_model(
    *,
    workflow: str,
    task_type: str = "chat",
    strategy: Strategy | None = None,
    backend: str | None = None,
) -> RoutedChatModel:
    """A routed chat model for one workflow; ``backend`` pins it to a backend (by name or model)."""
    return RoutedChatModel(
        router=process_router(),
        workflow=workflow,
        task_type=task_type,
        strategy=strategy,
        only=frozenset({backend}) if backend else None,
    )


def _unavailable(exc: RouterError) -> LLMUnavailableError:
    return LLMUnavailableError(f"LLM call failed: {exc}. {HOW_TO_CONFIGURE}")


async def generate_text(
    messages: Sequence[BaseMessage],
    *,
    workflow: str,
    task_type: str = "chat",
    strategy: Strategy | None = None,
    backend: str | None = None,
) -> AIMessage:
    """Ask the routed model for a free-text answer."""
    chat = build_chat_model(workflow=workflow, task_type=task_type, strategy=strategy, backend=backend)
    try:
        reply = await chat.ainvoke(list(messages))
    except RouterError as exc:
        raise _unavailable(exc) from exc
    if not isinstance(reply, AIMessage):
        raise LLMResponseError(f"the router returned {type(reply).__name__}, expected AIMessage")
    return reply


async def generate_structured(
    schema: type[SchemaT],
    messages: Sequence[BaseMessage],
    *,
    workflow: str,
    task_type: str = "extraction",
    strategy: Strategy | None = None,
    backend: str | None = None,
) -> SchemaT:
    """Ask the routed model for JSON that fits ``schema`` (only JSON-capable backends are eligible)."""
    chat = build_chat_model(workflow=workflow, task_type=task_type, strategy=strategy, backend=backend)
    try:
        reply = await chat.with_structured_output(schema).ainvoke(list(messages))
    except RouterError as exc:
        raise _unavailable(exc) from exc
    except (ValidationError, ValueError) as exc:
        raise LLMResponseError(f"the model's answer is not a {schema.__name__}: {exc}") from exc
    if not isinstance(reply, schema):
        raise LLMResponseError(f"the model's answer is not a {schema.__name__}")
    return reply


async def probe_models(settings: Settings, timeout_s: float = 2.0) -> tuple[bool, str]:
    """Probe every enabled backend without spending tokens; a sentence for start-up output."""
    router = router_for(settings)
    enabled = [b for b in router.config.backends if b.name not in router.table.disabled_reason]
    if not enabled:
        reasons = "; ".join(f"{n}: {why}" for n, why in router.table.disabled_reason.items())
        return False, f"LLM not configured: no backend is enabled ({reasons}). {HOW_TO_CONFIGURE}"
    results = await probe_all(enabled, timeout_s, env=router.env)
    up = [r for r in results if r.ok]
    for result in results:
        router.record_probe(result.backend, result.ok)
    if up:
        names = ", ".join(describe(router.backends[r.backend]) for r in up)
        return True, f"LLM reachable: {names}"
    tried = "; ".join(f"{describe(router.backends[r.backend])}: {r.detail}" for r in results)
    return False, f"LLM not reachable: tried {tried}. {HOW_TO_CONFIGURE}"
