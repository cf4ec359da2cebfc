"""The model seam: the one place that builds a chat model and calls it.

Every LLM call in the trading graphs goes through :func:`generate_text` or
:func:`generate_structured`. The routing issue swaps the router in here (``build_chat_model``),
so nothing else in the project constructs ``ChatOpenAI`` or ``ChatOllama``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import TypeVar

import httpx
import ollama
import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, SecretStr, ValidationError

from core.settings import Settings, load_settings, redact_url
from graphs.errors import LLMResponseError, LLMUnavailableError

logger = logging.getLogger(__name__)

SchemaT = TypeVar("SchemaT", bound=BaseModel)

HOW_TO_CONFIGURE = (
    "Configure a model in .env: set OPENAI_API_KEY (and optionally OPENAI_BASE_URL, TRADEFLOW_OPENAI_MODEL) "
    "for OpenAI or an OpenAI-compatible server such as vLLM, or start Ollama and set OLLAMA_BASE_URL and "
    "TRADEFLOW_OLLAMA_MODEL (TRADEFLOW_LLM_PROVIDER picks one; see .env.example)."
)
# Errors that mean "this model could not be reached or refused us", as opposed to a bug in our code.
_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    openai.APIError,
    httpx.HTTPError,
    ollama.ResponseError,
    ConnectionError,
    TimeoutError,
)


@functools.cache
def current_settings() -> Settings:
    """Settings for the model seam, read once per process."""
    return load_settings()


def describe_target(settings: Settings, model: str | None = None) -> str:
    """Say which provider, model and URL a call goes to (never the key)."""
    if settings.resolved_provider == "openai":
        url = settings.openai_base_url or "https://api.openai.com/v1"
        return f"openai model {model or settings.openai_model!r} at {redact_url(url)}"
    return f"ollama model {model or settings.ollama_model!r} at {redact_url(settings.ollama_base_url)}"


@functools.cache
def build_chat_model(settings: Settings, model: str | None = None) -> BaseChatModel:
    """Build the chat model ``settings`` name; ``model`` overrides the model name for one workflow."""
    timeout = httpx.Timeout(settings.llm_timeout_s, connect=settings.llm_connect_timeout_s)
    if settings.resolved_provider == "openai":
        # A local OpenAI-compatible server (vLLM) needs no key; the client still insists on one.
        key = settings.openai_api_key or "no-key-required"
        return ChatOpenAI(
            model=model or settings.openai_model,
            api_key=SecretStr(key),
            base_url=settings.openai_base_url,
            timeout=timeout,
            max_retries=settings.llm_max_retries,
            stream_usage=True,
        )
    return ChatOllama(
        model=model or settings.ollama_model,
        base_url=settings.ollama_base_url,
        client_kwargs={"timeout": timeout},
    )


def _unavailable(settings: Settings, model: str | None, exc: BaseException) -> LLMUnavailableError:
    target = describe_target(settings, model)
    return LLMUnavailableError(f"LLM call failed: tried {target}: {type(exc).__name__}: {exc}. {HOW_TO_CONFIGURE}")


async def generate_text(messages: Sequence[BaseMessage], *, model: str | None = None) -> AIMessage:
    """Ask the configured model for a free-text answer."""
    settings = current_settings()
    chat = build_chat_model(settings, model)
    try:
        reply = await chat.ainvoke(list(messages))
    except _TRANSPORT_ERRORS as exc:
        raise _unavailable(settings, model, exc) from exc
    if not isinstance(reply, AIMessage):
        raise LLMResponseError(
            f"{describe_target(settings, model)} returned {type(reply).__name__}, expected AIMessage"
        )
    return reply


async def generate_structured(
    schema: type[SchemaT], messages: Sequence[BaseMessage], *, model: str | None = None
) -> SchemaT:
    """Ask the configured model for an answer that fits ``schema`` (JSON-schema constrained output)."""
    settings = current_settings()
    chat = build_chat_model(settings, model).with_structured_output(schema, method="json_schema")
    try:
        reply = await chat.ainvoke(list(messages))
    except _TRANSPORT_ERRORS as exc:
        raise _unavailable(settings, model, exc) from exc
    except (ValidationError, ValueError) as exc:
        raise LLMResponseError(
            f"{describe_target(settings, model)} answered with something that is not a {schema.__name__}: {exc}"
        ) from exc
    if not isinstance(reply, schema):
        raise LLMResponseError(f"{describe_target(settings, model)} returned no {schema.__name__}")
    return reply


def probe_model(settings: Settings, timeout_s: float = 2.0) -> tuple[bool, str]:
    """Check, without spending tokens, that the configured model endpoint answers.

    OpenAI-compatible servers are asked for ``/models``, Ollama for ``/api/tags``. Returns whether it
    answered and a sentence to print at start-up.
    """
    target = describe_target(settings)
    if settings.resolved_provider == "openai":
        base = (settings.openai_base_url or "https://api.openai.com/v1").rstrip("/")
        url = f"{base}/models"
        headers = {"Authorization": f"Bearer {settings.openai_api_key}"} if settings.openai_api_key else {}
    else:
        url = f"{settings.ollama_base_url.rstrip('/')}/api/tags"
        headers = {}
    try:
        response = httpx.get(url, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        return False, f"LLM not reachable: tried {target}: {type(exc).__name__}: {exc}. {HOW_TO_CONFIGURE}"
    if response.status_code >= 400:
        return False, f"LLM not usable: {target} answered HTTP {response.status_code}. {HOW_TO_CONFIGURE}"
    return True, f"LLM reachable: {target}"
