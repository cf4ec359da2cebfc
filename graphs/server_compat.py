"""What differs between the servers tradeflow runs on: langgraph-api and Aegra, in one place.

langgraph-api is ``langgraph dev`` and the licensed image; Aegra is ``aegra-api`` (Apache-2.0, Postgres + Redis).

The same ``langgraph.json`` graphs, auth hook and HTTP app run on both; these are the four seams measured:

* The auth hook's ``headers``: langgraph-api passes ``bytes`` keys and values, Aegra ``str`` ones
  (:func:`header`).
* A ``threads.create_run`` value: langgraph-api nests the run's body under ``kwargs``, Aegra passes the request
  body flat (:func:`run_kwargs`).
* Looking up an assistant created through the API: langgraph-api's in-process ``get_client()`` does not exist on
  Aegra (the SDK would build a client for an unstarted langgraph-api app in the same environment); Aegra's own
  table is read instead (:func:`assistant_graph_id`), and calls back into the server go over loopback HTTP
  (:func:`server_client`).
* A refused state update: langgraph-api answers the ``ValueError`` a graph raises with 400; Aegra answers
  anything but its own ``HTTPException`` with 500 (:func:`refusal`).
* Reading a thread's state from inside the auth hook (four eyes: who started the run?): langgraph-api's
  in-process client again; on Aegra its checkpointer, in-process (:func:`thread_state`).
* The auth hook's ``path``: langgraph-api passes it, Aegra does not; :class:`RequestPathMiddleware` in the
  HTTP app records it for :func:`request_path`.
* Who owns what: Aegra scopes every thread and run to the authenticated ``identity`` itself (another identity
  gets 404) and writes that identity into ``metadata.owner``. Owner isolation therefore holds on Aegra as on
  langgraph-api, but an approver (another identity, as four eyes requires) cannot reach the thread of the run
  they approve, nor an admin another's thread. Approvals therefore go through ``POST /approvals/{thread_id}``
  on both servers: the route reads the thread's owner (:func:`thread_info`) and resumes the run as that owner
  acting for the approver (:func:`delegated_resume`), through the server's own API and auth hook: loopback
  HTTP on Aegra, langgraph-api's app in-process (not its ``/noauth`` SDK transport, which skips the hook).
* A request body's size limit: langgraph-api enforces ``HTTP_MAX_REQUEST_BODY_BYTES`` (``tradeflow serve`` sets
  it from ``TRADEFLOW_MAX_BODY_BYTES``); Aegra has none, so :class:`BodyLimitMiddleware` answers 413 there.
* Callback run ids: langgraph-api passes ``UUID``, Aegra ``str`` (handled where they are used, in
  ``analytics.callbacks``, which cannot import this package).

The custom app must be FastAPI on Aegra (langgraph-api takes any Starlette app): :func:`api_routes` turns
Starlette routes into FastAPI routes, so a server that protects custom routes with a dependency (Aegra's
``enable_custom_route_auth``) covers them too.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from langgraph_sdk.client import LangGraphClient

logger = logging.getLogger(__name__)

ServerKind = Literal["aegra", "langgraph-api"]


def server_kind() -> ServerKind:
    """Which server this process is (Aegra imports its package before it loads our modules)."""
    return "aegra" if "aegra_api" in sys.modules else "langgraph-api"


def header(headers: Mapping[bytes, bytes] | Mapping[str, str], name: str) -> str:
    """A request header's value ("" when absent), whichever of ``bytes`` or ``str`` keys the server passed."""
    lowered = name.lower()
    raw: object = headers.get(lowered.encode(), None) or headers.get(lowered, "")  # type: ignore[call-overload]
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def run_kwargs(value: Mapping[str, Any]) -> dict[str, Any]:
    """The run's body (input, command, context, config) from a ``threads.create_run`` auth value."""
    nested = value.get("kwargs")
    return dict(nested) if isinstance(nested, Mapping) else dict(value)


async def assistant_graph_id(assistant_id: str) -> str | None:
    """The graph id of an assistant created through the API (None when the server knows no such assistant)."""
    if server_kind() == "aegra":
        return await _aegra_assistant_graph_id(assistant_id)
    from langgraph_sdk import get_client

    # langgraph-api's in-process transport: no credentials, no owner filter.
    assistant = await get_client().assistants.get(assistant_id)
    return str(assistant["graph_id"])


async def thread_state(thread_id: str) -> dict[str, Any]:
    """A thread's latest state as the SDK shapes it: ``values`` and ``tasks[].interrupts[].value``."""
    if server_kind() == "aegra":
        return await _aegra_thread_state(thread_id)
    from langgraph_sdk import get_client

    state: dict[str, Any] = dict(await get_client().threads.get_state(thread_id))
    return state


async def _aegra_thread_state(thread_id: str) -> dict[str, Any]:
    from aegra_api.core.database import db_manager

    saver = db_manager.get_checkpointer()
    found = await saver.aget_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})
    if found is None:
        return {"values": {}, "tasks": []}
    interrupts = [
        {"value": getattr(item, "value", item)}
        for _, channel, written in found.pending_writes or []
        if channel == "__interrupt__"
        for item in (written if isinstance(written, list | tuple) else [written])
    ]
    return {"values": dict(found.checkpoint.get("channel_values") or {}), "tasks": [{"interrupts": interrupts}]}


_PATH: ContextVar[str] = ContextVar("tradeflow_request_path", default="")


def request_path() -> str:
    """The path of the request being served ("" outside one, or where no middleware recorded it)."""
    return _PATH.get()


class RequestPathMiddleware:
    """Pure ASGI middleware recording each HTTP request's path for :func:`request_path` (same task, no copy)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: D102
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _PATH.set(str(scope.get("path", "")))
        try:
            await self.app(scope, receive, send)
        finally:
            _PATH.reset(token)


async def _aegra_assistant_graph_id(assistant_id: str) -> str | None:
    # Aegra's own table, through its own engine: no credentials, no HTTP round trip inside a request.
    from aegra_api.core.database import db_manager
    from aegra_api.core.orm import Assistant
    from sqlalchemy import select

    async with db_manager.get_engine().connect() as conn:
        graph_id = await conn.scalar(select(Assistant.graph_id).where(Assistant.assistant_id == assistant_id))
    return None if graph_id is None else str(graph_id)


async def thread_info(thread_id: str) -> dict[str, Any] | None:
    """A thread's ``owner``, ``assistant_id`` and ``graph_id`` as the server records them; None when there is none."""
    if server_kind() == "aegra":
        from aegra_api.core.database import db_manager
        from aegra_api.core.orm import Thread
        from sqlalchemy import select

        async with db_manager.get_engine().connect() as conn:
            found = (await conn.execute(
                select(Thread.user_id, Thread.metadata_json).where(Thread.thread_id == thread_id))).first()  # fmt: skip
        if found is None:
            return None
        owner, metadata = found[0], dict(found[1] or {})
    else:
        import httpx
        from langgraph_sdk import get_client

        try:  # langgraph-api's in-process transport: no credentials, no owner filter
            thread = await get_client().threads.get(thread_id)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code in (404, 422):
                return None
            raise
        metadata = dict(thread.get("metadata") or {})
        owner = metadata.get("owner")
    return {"owner": owner, "assistant_id": metadata.get("assistant_id"), "graph_id": metadata.get("graph_id")}


async def delegated_resume(token: str, thread_id: str, assistant_id: str, resume: object) -> tuple[int, Any]:
    """``POST /threads/{thread_id}/runs/wait`` resuming with ``resume``, authenticated by delegation ``token``.

    Through the server's own routes and auth hook; the status and the decoded body come back as they are.
    """
    import json

    import httpx

    transport: httpx.AsyncBaseTransport | None = None
    if server_kind() == "aegra":
        base_url = f"http://127.0.0.1:{get_settings().port}"
    else:
        from langgraph_api.server import app  # the whole app, auth middleware included

        base_url, transport = "http://api", httpx.ASGITransport(app=app)
    body = {"assistant_id": assistant_id, "command": {"resume": resume}}
    async with httpx.AsyncClient(base_url=base_url, transport=transport, timeout=600) as client:
        response = await client.post(f"/threads/{thread_id}/runs/wait", json=body, headers={"x-api-key": token})
    text = response.text.strip()  # Aegra keeps the connection alive with blank lines before the result
    try:
        return response.status_code, json.loads(text) if text else None
    except ValueError:
        return response.status_code, text


def server_client() -> LangGraphClient:
    """A client of this very server: in-process on langgraph-api, loopback HTTP on Aegra.

    It carries ``TRADEFLOW_API_KEY`` when one is set, since the request passes through the auth hook too.
    """
    from langgraph_sdk import get_client

    settings = get_settings()
    key = settings.api_key
    if server_kind() == "aegra":
        return get_client(url=f"http://127.0.0.1:{settings.port}", api_key=key)
    return get_client(api_key=key) if key else get_client()


def refusal(exc: Exception, status_code: int = 400) -> Exception:
    """The exception to raise so that this server answers ``status_code`` with ``exc``'s message."""
    if server_kind() != "aegra":
        return exc
    from fastapi import HTTPException

    return HTTPException(status_code=status_code, detail=str(exc))


def _as_api_route(app: FastAPI, route: Route) -> None:
    endpoint = route.endpoint

    async def call(request: Request) -> Response:
        response: Response = await endpoint(request)
        return response

    call.__name__ = getattr(endpoint, "__name__", route.name)
    call.__doc__ = endpoint.__doc__
    app.add_api_route(route.path, call, methods=sorted(route.methods or ()), include_in_schema=False)


def api_routes(app: FastAPI, routes: Iterable[BaseRoute]) -> None:
    """Add Starlette ``routes`` to ``app`` as FastAPI routes (other kinds of route as they are)."""
    for route in routes:
        if isinstance(route, Route):
            _as_api_route(app, route)
        else:
            app.router.routes.append(route)


class BodyLimitMiddleware:
    """On Aegra: 413 for a request body over ``TRADEFLOW_MAX_BODY_BYTES`` (declared or streamed), before any route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: D102
        if scope["type"] != "http" or server_kind() != "aegra":
            await self.app(scope, receive, send)
            return
        limit = get_settings().max_body_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _too_large(limit)(scope, receive, send)


class _TooLarge(Exception):
    """A streamed body went past the limit."""


def _too_large(limit: int) -> Response:
    from starlette.responses import JSONResponse

    message = f"request body is over TRADEFLOW_MAX_BODY_BYTES ({limit} bytes)"
    return JSONResponse({"error": message, "message": message}, status_code=413)
