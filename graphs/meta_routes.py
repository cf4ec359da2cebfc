"""``/docs``, ``/openapi.json`` and ``/info`` behind authentication, for the custom HTTP app to mount.

langgraph-api serves these as meta routes ahead of every custom route and outside authentication;
``langgraph.json`` turns them off (``http.disable_meta``) and the custom app, whose routes pass through the
auth hook (``http.enable_custom_route_auth``), serves them again with langgraph-api's own handlers. They are
imported when called: the custom app is loaded while langgraph-api itself is still importing, and a server
without langgraph-api (Aegra) serves its own docs and mounts none of these.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def docs(request: Request) -> Response:
    """langgraph-api's API reference page."""
    from langgraph_api.api import docs as serve_docs

    response: Response = await serve_docs(request)
    return response


async def openapi(request: Request) -> Response:
    """langgraph-api's OpenAPI document (tradeflow's routes included)."""
    from langgraph_api.api import openapi as serve_openapi

    response: Response = await serve_openapi(request)
    return response


async def info(request: Request) -> Response:
    """langgraph-api's server info (Studio reads it)."""
    from langgraph_api.api.meta import meta_info

    response: Response = await meta_info(request)
    return response


routes = [
    Route("/docs", docs, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
    Route("/info", info, methods=["GET"]),
]
