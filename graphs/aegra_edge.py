"""On Aegra: ``/ok`` open like langgraph-api's, and the server's own meta routes behind the same authentication.

Aegra serves the custom app as *the* application, its own routes included, so a middleware of the custom app
sees every request. Aegra's ``/info`` and ``/`` describe the server to anyone, and its auth hook does not cover
them; here they take the same credential as every other route (``graphs.api_auth.identify``). ``/ok`` answers
200 without one, as on langgraph-api, for health checks; Aegra's own ``/health`` stays open for the same
purpose (the compose file's healthcheck uses it).
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from access.errors import AccessDenied

HEALTH = "/ok"
GUARDED = frozenset({"/", "/info", "/docs", "/redoc", "/openapi.json"})


class AegraEdgeMiddleware:
    """Pure ASGI middleware: ``/ok`` answered here; Aegra's meta routes need a credential."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: D102
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == HEALTH:
            await JSONResponse({"ok": True})(scope, receive, send)
            return
        if path in GUARDED:
            from graphs.api_auth import identify  # the auth hook's module loads the key store: only when asked

            headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope.get("headers", [])}
            try:
                await identify(headers, path)
            except AccessDenied as exc:
                await JSONResponse({"detail": str(exc)}, status_code=exc.status)(scope, receive, send)
                return
        await self.app(scope, receive, send)
