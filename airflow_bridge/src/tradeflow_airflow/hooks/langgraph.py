"""``LangGraphHook``: the one place that builds langgraph-sdk clients, from a ``langgraph`` connection.

Connection fields: ``host`` is the server URL (``http://tradeflow:2024``; a bare host name gets ``http://``
and the connection's ``port``), ``password`` is the API key (sent by the SDK as ``x-api-key``), and the
extra ``timeout_s`` bounds each HTTP request (default 30 s; waiting on a run uses the SDK's reconnecting
join, so a long run is not cut by it).
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.definitions.connection import Connection
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.client import LangGraphClient, SyncLangGraphClient

from tradeflow_airflow.errors import ConnectionConfigError

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0


def server_url(conn: Connection) -> str:
    """The server's base URL from a connection's host (with or without scheme), port and schema."""
    host = (conn.host or "").strip().rstrip("/")
    if not host:
        raise ConnectionConfigError(
            f"connection {conn.conn_id!r}: host is empty; expected the tradeflow server URL, "
            "e.g. http://127.0.0.1:2024"
        )
    if "://" not in host:
        scheme = str(conn.extra_dejson.get("scheme") or "http")
        host = f"{scheme}://{host}"
        if conn.port:
            host = f"{host}:{conn.port}"
    return host


def request_timeout(conn: Connection) -> float:
    """Seconds allowed for one HTTP request (the connection's extra ``timeout_s``)."""
    raw = conn.extra_dejson.get("timeout_s", DEFAULT_TIMEOUT_S)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConnectionConfigError(
            f"connection {conn.conn_id!r}: extra timeout_s must be a number of seconds, got {raw!r}"
        ) from None
    if value <= 0:
        raise ConnectionConfigError(f"connection {conn.conn_id!r}: extra timeout_s must be > 0, got {raw!r}")
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
    def _client_kwargs(conn: Connection) -> dict[str, Any]:
        # api_key=None (not "absent"): the SDK would otherwise pick a key from LANGGRAPH_API_KEY and
        # friends in the worker's environment, which is not this connection's.
        return {"url": server_url(conn), "api_key": conn.password or None, "timeout": request_timeout(conn)}

    def get_sync_client(self) -> SyncLangGraphClient:
        """A blocking client, for operators' ``execute`` and the DAG factory."""
        return get_sync_client(**self._client_kwargs(self.get_conn()))

    async def get_async_client(self) -> LangGraphClient:
        """An async client for the current event loop (triggers); close it with ``aclose()`` when done."""
        return get_client(**self._client_kwargs(await self.aget_conn()))

    def list_workflows(self) -> list[dict[str, Any]]:
        """``GET /workflows``: every published workflow with its latest version, labels and schedule."""
        with self.get_sync_client() as client:
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
