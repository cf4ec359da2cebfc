"""Extra HTTP routes on the LangGraph server (``langgraph.json`` ``http.app``)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from router.runtime import process_router
from router.status import backend_status


async def router_backends(request: Request) -> JSONResponse:
    """Live health, breaker state and measured latency of each backend in this server's router."""
    return JSONResponse(backend_status(process_router()))


app = Starlette(routes=[Route("/router/backends", router_backends, methods=["GET"])])
