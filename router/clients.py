"""Builds the LangChain client for each backend: the only place ``ChatOpenAI`` and ``ChatOllama`` are made.

The clients' own retries are off (``max_retries=0``): the router owns retries and fallbacks. A provider's
library (openai and langchain-openai, ollama and langchain-ollama) is imported when the first client of that
kind is built, so a process whose table has no backend of a kind never loads its library. Each client gets a
connection pool of its own, which the caller closes (``router.connections``): never the libraries' process-wide
one, whose connections outlive the event loop that opened them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from core.settings import get_settings, redact_url
from router.config import BackendConfig, Timeouts
from router.connections import Close

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

OPENAI_URL = "https://api.openai.com/v1"


def base_url(backend: BackendConfig) -> str:
    """Where a backend's requests go."""
    return backend.base_url or OPENAI_URL


def describe(backend: BackendConfig) -> str:
    """'kind model 'x' at URL' for messages (never a key)."""
    return f"{backend.kind} model {backend.model!r} at {redact_url(base_url(backend))}"


def missing_key(backend: BackendConfig, env: Mapping[str, str] | None = None) -> str | None:
    """The name of a variable the backend needs (its key, or ``requires_env``) that is not set, if any."""
    env = get_settings().environ if env is None else env
    for name in (backend.api_key_env, *backend.requires_env):
        if name and not env.get(name):
            return name
    return None


def build_client(
    backend: BackendConfig, timeouts: Timeouts, env: Mapping[str, str] | None = None
) -> tuple[BaseChatModel, Close]:
    """A LangChain chat client for ``backend`` with the router's timeouts and no retries of its own.

    Returned with what closes its async connections: call it on the loop the client ran on.
    """
    env = get_settings().environ if env is None else env
    # The read limit backstops the router's own first-token and idle limits.
    read_s = max(timeouts.first_token_s, timeouts.stream_idle_s) + 1.0
    if backend.kind == "ollama":
        import httpx
        from langchain_ollama import ChatOllama

        timeout = httpx.Timeout(read_s, connect=timeouts.connect_s)
        transport = httpx.AsyncHTTPTransport()
        ollama = ChatOllama(
            model=backend.model,
            base_url=base_url(backend),
            client_kwargs={"timeout": timeout},
            async_client_kwargs={"transport": transport},
        )
        return ollama, transport.aclose
    import openai
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    key = env.get(backend.api_key_env, "") if backend.api_key_env else ""
    limits = openai.Timeout(read_s, connect=timeouts.connect_s)
    http = openai.DefaultAsyncHttpxClient(timeout=limits)
    chat = ChatOpenAI(
        model=backend.model,
        # vLLM and other local servers take any key; the client insists on having one.
        api_key=SecretStr(key or "no-key-required"),
        base_url=base_url(backend),
        timeout=limits,
        max_retries=0,
        stream_usage=True,
        http_async_client=http,
    )
    return chat, http.aclose
