"""The process's router, built once from settings (the model seam and the subgraph share it)."""

from __future__ import annotations

import functools

from core.settings import Settings, get_settings, on_settings_reset
from router.config import load_config
from router.engine import Router


@on_settings_reset
def _forget_routers() -> None:
    router_for.cache_clear()


@functools.cache
def router_for(settings: Settings) -> Router:
    """One router per settings, so health, latency and spend figures are shared by every call."""
    config = load_config(settings.router_config, settings.environ)
    if settings.routing_strategy:
        config = config.model_copy(update={"default_strategy": settings.routing_strategy})
    return Router(config, env=settings.environ, provider=settings.llm_provider)


def process_router() -> Router:
    """The router for this process's settings."""
    return router_for(get_settings())
