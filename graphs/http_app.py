"""Extra HTTP routes on the LangGraph server (``langgraph.json`` ``http.app``), and its background work.

A FastAPI app: Aegra mounts nothing else, and langgraph-api takes it as any Starlette app. Its own OpenAPI
pages are off, so the server's ``/docs`` stay the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from analytics.http import report_store
from analytics.http import routes as analytics_routes
from analytics.runtime import writer
from core.errors import TradeflowError
from graphs import meta_routes
from graphs.aegra_edge import AegraEdgeMiddleware
from graphs.approval_routes import routes as approval_routes
from graphs.router_metrics import register_breaker_collector
from graphs.server_compat import BodyLimitMiddleware, RequestPathMiddleware, api_routes, server_kind
from graphs.versioning_service import service
from graphs.workflow_assistants import listen, try_sync_assistants
from graphs.workflow_routes import routes as workflow_routes
from router.probes import probe_forever
from router.runtime import process_router
from router.status import backend_status
from versioning import shadow

logger = logging.getLogger(__name__)


async def router_backends(request: Request) -> JSONResponse:
    """Live health, breaker state and measured latency of each backend in this server's router."""
    return JSONResponse(await asyncio.to_thread(lambda: backend_status(process_router())))


async def versioning_upkeep(poke: asyncio.Event) -> None:
    """Every guardrail interval (or when poked after a publish): bring workflow assistants in step, check guardrails.

    The assistants' sync writes only what is missing or changed, so an idle tick is one search request.
    """
    interval = service().settings.guardrail_interval_s
    await asyncio.sleep(0.5)  # let the server's own start-up finish before calling its API in-process
    while True:
        await try_sync_assistants()
        if interval:
            try:
                moved = await asyncio.to_thread(lambda: service().check_guardrails(report_store()))
            except TradeflowError as exc:
                logger.warning("guardrail check failed; next try in %s s: %s", interval, exc)
            else:
                for move in moved:
                    logger.warning("guardrail rolled back %s", move)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(poke.wait(), timeout=interval or 60)
        poke.clear()


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Probe the backends (no tokens spent) and keep versioning up to date for as long as the server runs."""
    router = await asyncio.to_thread(process_router)
    poke = asyncio.Event()
    listen(asyncio.get_running_loop(), poke)
    tasks = [asyncio.create_task(probe_forever(router)), asyncio.create_task(versioning_upkeep(poke))]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await shadow.cancel_all()  # a shadow run never outlives the server that served its run
        await asyncio.to_thread(writer().close)  # flush analytics rows on shutdown


register_breaker_collector()

app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
app.add_middleware(RequestPathMiddleware)
app.add_middleware(BodyLimitMiddleware)
if server_kind() == "aegra":  # this app is Aegra's whole application: /ok and its meta routes pass through here
    app.add_middleware(AegraEdgeMiddleware)
backends = Route("/router/backends", router_backends, methods=["GET"])
api_routes(app, [backends, *analytics_routes, *workflow_routes, *approval_routes])
if server_kind() == "langgraph-api":  # its own /docs, /openapi.json and /info are off (disable_meta): serve them here
    api_routes(app, meta_routes.routes)
