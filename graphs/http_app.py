"""Extra HTTP routes on the LangGraph server (``langgraph.json`` ``http.app``), and its background probes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from analytics.http import routes as analytics_routes
from analytics.runtime import writer
from graphs.router_metrics import register_breaker_collector
from router.probes import probe_forever
from router.runtime import process_router
from router.status import backend_status


async def router_backends(request: Request) -> JSONResponse:
    """Live health, breaker state and measured latency of each backend in this server's router."""
    return JSONResponse(await asyncio.to_thread(lambda: backend_status(process_router())))


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Probe the backends (no tokens spent) for as long as the server runs."""
    router = await asyncio.to_thread(process_router)
    task = asyncio.create_task(probe_forever(router))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.to_thread(writer().close)  # flush analytics rows on shutdown


register_breaker_collector()

app = Starlette(
    routes=[Route("/router/backends", router_backends, methods=["GET"]), *analytics_routes], lifespan=lifespan
)
