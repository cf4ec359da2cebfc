"""The process's router, built once from settings (the model seam and the subgraph share it)."""

from __future__ import annotations

from core.prices import PriceTable
from core.settings import Settings, get_settings, on_settings_reset
from router.config import load_config
from router.engine import Router
from router.seed import seed_latency
from router.spend_store import PostgresSpendStore, SpendStore, SqliteSpendStore

_stores: list[SpendStore] = []
_routers: dict[Settings, Router] = {}


@on_settings_reset
def _forget_routers() -> None:
    while _routers:
        _routers.popitem()[1].close()
    while _stores:
        _stores.pop().close()


def spend_store_for(settings: Settings) -> SpendStore:
    """Postgres when ``DATABASE_URL`` is set, else SQLite next to the checkpoints (``router.sqlite``)."""
    store: SpendStore
    if settings.database_url:
        store = PostgresSpendStore(settings.database_url)
    else:
        store = SqliteSpendStore(settings.data_dir / "router.sqlite")
    _stores.append(store)
    return store


def router_for(settings: Settings) -> Router:
    """One router per settings, so health, latency and spend figures are shared by every call.

    Spend and budget reservations live in the database; latency figures start from the analytics rows of
    recent calls; circuit breakers are this process's own.
    """
    found = _routers.get(settings)
    if found is not None:
        return found
    config = load_config(settings.router_config, settings.environ)
    updates: dict[str, object] = {}
    if settings.routing_strategy:
        updates["default_strategy"] = settings.routing_strategy
    if settings.router_first_token_max_s is not None:
        updates["timeouts"] = config.timeouts.model_copy(update={"first_token_s": settings.router_first_token_max_s})
    if updates:
        config = config.model_copy(update=updates)
    router = Router(
        config,
        env=settings.environ,
        provider=settings.llm_provider,
        prices=PriceTable.load(settings.prices_file),
        spend=spend_store_for(settings),
    )
    seed_latency(router, settings)
    return _routers.setdefault(settings, router)  # a router built by a racing caller in the meantime wins


def process_router() -> Router:
    """The router for this process's settings."""
    return router_for(get_settings())
