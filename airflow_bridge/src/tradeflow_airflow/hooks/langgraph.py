"""``LangGraphHook``: the one place that builds langgraph-sdk clients, from a ``langgraph`` connection.

Connection fields: ``host`` is the server URL (``http://tradeflow:2024``; a bare host name gets ``http://``
and the connection's ``port``), ``password`` is the API key (sent by the SDK as ``x-api-key``), and the
extra ``timeout_s`` bounds each HTTP read (default 30 s, at least 10: waiting on a run uses the server's
``join``, which sends a byte every 5 s, so a long run is not cut by it).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from airflow.sdk import BaseHook
from airflow.sdk.definitions.connection import Connection
from langgraph_sdk.client import LangGraphClient, SyncLangGraphClient

from tradeflow_airflow import __version__
from tradeflow_airflow.errors import ConnectionConfigError
from tradeflow_airflow.hooks.urls import base_url

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
MIN_TIMEOUT_S = 10.0


def server_url(conn: Connection) -> str:
    """The server's base URL from a connection's host (with or without scheme, port, path), port and scheme."""
    scheme = conn.extra_dejson.get("scheme")
    return base_url(conn.conn_id, conn.host, conn.port, str(scheme) if scheme else None,
                    "the tradeflow server URL, e.g. http://127.0.0.1:2024")  # fmt: skip


def request_timeout(conn: Connection) -> float:
    """Seconds allowed for one HTTP request (the connection's extra ``timeout_s``)."""
    raw = conn.extra_dejson.get("timeout_s", DEFAULT_TIMEOUT_S)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConnectionConfigError(
            f"connection {conn.conn_id!r}: extra timeout_s must be a number of seconds, got {raw!r}"
        ) from None
    if value < MIN_TIMEOUT_S:
        raise ConnectionConfigError(
            f"connection {conn.conn_id!r}: extra timeout_s must be >= {MIN_TIMEOUT_S:g} (the server's join "
            f"sends a keep-alive every 5 s), got {raw!r}"
        )
    return value


class LangGraphHook(BaseHook):
    """Builds sync and async langgraph-sdk clients for a tradeflow (LangGraph) server.

    Args:
        langgraph_conn_id: the Airflow connection (type ``langgraph``) holding URL and API key.
    """

    conn_name_attr = "langgraph_conn_id"
    default_conn_name = "langgraph_default"
    conn_type = "langgraph"
    hook_name = "LangGraph server (tradeflow)"

    def __init__(self, langgraph_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.langgraph_conn_id = langgraph_conn_id
        self._conn: Connection | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Show only the fields the hook reads, named for what they hold."""
        return {
            "hidden_fields": ["schema", "login"],
            "relabeling": {"host": "Server URL", "password": "API key"},
            "placeholders": {
                "host": "http://127.0.0.1:2024",
                "password": "the server's TRADEFLOW_API_KEY (empty if the server has none)",
                "extra": '{"timeout_s": 30}',
            },
        }

    def get_conn(self) -> Connection:
        """The Airflow connection (read once per hook)."""
        if self._conn is None:
            self._conn = self.get_connection(self.langgraph_conn_id)
        return self._conn

    async def aget_conn(self) -> Connection:
        """The Airflow connection, read without blocking the event loop (triggers)."""
        if self._conn is None:
            self._conn = await self.aget_connection(self.langgraph_conn_id)
        return self._conn

    @staticmethod
    def _httpx_kwargs(conn: Connection, connect_s: float) -> dict[str, Any]:
        # Only the connection's key, never one from LANGGRAPH_API_KEY and friends in the worker's
        # environment (what the SDK's get_client would pick up); the server reads it from x-api-key.
        headers = {"User-Agent": f"tradeflow-airflow/{__version__}"}
        if conn.password:
            headers["x-api-key"] = conn.password
        read_s = request_timeout(conn)
        timeout = httpx.Timeout(read_s, connect=min(connect_s, read_s))
        return {"base_url": server_url(conn), "headers": headers, "timeout": timeout}

    def get_sync_client(self, *, connect_retries: int = 5, connect_s: float = 5.0) -> SyncLangGraphClient:
        """A blocking SDK client, for operators' ``execute`` and the DAG factory.

        ``connect_retries`` is the SDK's default (refused connections retried with back-off, ~15 s in all);
        parse-time callers pass fewer so an outage does not stall the DAG processor.
        """
        kwargs = self._httpx_kwargs(self.get_conn(), connect_s)
        return SyncLangGraphClient(httpx.Client(transport=httpx.HTTPTransport(retries=connect_retries), **kwargs))

    async def get_async_client(self) -> LangGraphClient:
        """An async SDK client for the current event loop (triggers); close it with ``aclose()`` when done."""
        kwargs = self._httpx_kwargs(await self.aget_conn(), 5.0)
        return LangGraphClient(httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(retries=5), **kwargs))

    def list_workflows(self) -> list[dict[str, Any]]:
        """``GET /workflows``: every published workflow with its latest version, labels and schedule.

        One quick try (3 s to connect, no retries): it runs while Airflow parses DAG files.
        """
        with self.get_sync_client(connect_retries=0, connect_s=3.0) as client:
            body = client.http.get("/workflows")
        if not isinstance(body, list):
            raise ConnectionConfigError(f"GET /workflows on {self.langgraph_conn_id!r} returned {type(body).__name__}")
        return body

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's "Test" button: the server answers ``/ok`` and accepts the key on ``/assistants/search``."""
        try:
            with self.get_sync_client() as client:
                client.assistants.search(limit=1)
        except Exception as exc:  # the UI shows whatever went wrong, whatever its class
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"tradeflow server at {server_url(self.get_conn())} accepted the connection"
