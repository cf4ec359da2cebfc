"""``AirflowAPIHook``: posts asset events through Airflow's own REST API (``POST /api/v2/assets/events``).

The connection (default ``airflow_api_default``, any connection type; ``http`` is the usual one) holds the
API server URL in ``host`` and an Airflow user in ``login`` / ``password``. Airflow 3's API server takes a
JWT bearer token: the hook asks ``POST {host}/auth/token`` for one with that user (the simple auth
manager and FAB both serve that route), then posts each event. A connection whose extra holds
``{"token": "..."}`` uses that token as it is (for auth managers that issue tokens elsewhere).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from airflow.sdk import BaseHook
from airflow.sdk.definitions.connection import Connection
from airflow.sdk.exceptions import AirflowException, AirflowRuntimeError

from tradeflow_airflow.errors import AssetEventError, ConnectionConfigError
from tradeflow_airflow.hooks.urls import base_url

logger = logging.getLogger(__name__)


@dataclass
class AssetEventResults:
    """What became of each asset event: Airflow's records, and the failures with their reasons."""

    created: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    """``{"uri": ..., "error": ...}`` per event Airflow did not record."""


class AirflowAPIHook(BaseHook):
    """A small client of Airflow's public REST API v2, authenticated with a JWT."""

    conn_name_attr = "airflow_api_conn_id"
    default_conn_name = "airflow_api_default"
    conn_type = "http"
    hook_name = "Airflow REST API"

    def __init__(self, airflow_api_conn_id: str = default_conn_name, timeout_s: float = 30.0) -> None:
        super().__init__()
        self.airflow_api_conn_id = airflow_api_conn_id
        self.timeout_s = timeout_s

    def _base_url(self, conn: Connection) -> str:
        # ``schema`` holds the scheme in Airflow's http connections (``https``), as the HTTP provider reads it.
        return base_url(self.airflow_api_conn_id, conn.host, conn.port, conn.schema or None,
                        "the Airflow API server URL, e.g. http://127.0.0.1:8080")  # fmt: skip

    def _token(self, client: httpx.Client, conn: Connection) -> str:
        preset = conn.extra_dejson.get("token")
        if preset:
            return str(preset)
        if not conn.login:
            raise ConnectionConfigError(
                f"connection {self.airflow_api_conn_id!r}: login is empty; expected an Airflow user allowed to "
                "create asset events (or extra {'token': ...})"
            )
        response = client.post("/auth/token", json={"username": conn.login, "password": conn.password or ""})
        if response.status_code not in (200, 201):
            raise AssetEventError(
                f"Airflow API at {client.base_url} refused a token for user {conn.login!r} "
                f"(connection {self.airflow_api_conn_id!r}): HTTP {response.status_code} {response.text[:200]}"
            )
        return str(response.json()["access_token"])

    def _asset_id(self, client: httpx.Client, uri: str) -> int:
        response = client.get("/api/v2/assets", params={"uri_pattern": uri, "limit": 100})
        if response.status_code != 200:
            raise AssetEventError(
                f"listing assets for {uri!r} failed: HTTP {response.status_code} {response.text[:200]}"
            )
        for asset in response.json().get("assets", []):
            if asset.get("uri") == uri:
                return int(asset["id"])
        raise AssetEventError(
            f"Airflow knows no asset with uri {uri!r}: declare it in a DAG (a schedule or an outlet) so that "
            "downstream DAGs can wait on it"
        )

    def _post_one(self, client: httpx.Client, event: dict[str, Any]) -> dict[str, Any]:
        uri = event.get("uri")
        if not isinstance(uri, str) or not uri:
            raise AssetEventError(f"asset event without a uri: {event!r}")
        extra = event.get("extra") or {}
        if not isinstance(extra, dict):
            raise AssetEventError(f"asset event for {uri!r}: extra must be an object, got {extra!r}")
        body = {"asset_id": self._asset_id(client, uri), "extra": extra}
        response = client.post("/api/v2/assets/events", json=body)
        if response.status_code not in (200, 201):
            raise AssetEventError(
                f"Airflow refused the asset event for {uri!r}: HTTP {response.status_code} {response.text[:300]}"
            )
        record: dict[str, Any] = response.json()
        logger.info("posted asset event %s for %s", record.get("id"), uri)
        return record

    def send_asset_events(self, events: list[dict[str, Any]]) -> AssetEventResults:
        """Post each ``{"uri": ..., "extra": {...}}``; an event that fails is recorded with why, the rest still go.

        Nothing raises for a refused or unreachable API: a missing connection, a refused token or an outage
        fails every event, each with that reason.
        """
        results = AssetEventResults()
        if not events:
            return results
        try:
            conn = self.get_connection(self.airflow_api_conn_id)
            url = self._base_url(conn)
            with httpx.Client(base_url=url, timeout=self.timeout_s) as client:
                client.headers["Authorization"] = f"Bearer {self._token(client, conn)}"
                for event in events:
                    try:
                        results.created.append(self._post_one(client, event))
                    except (AssetEventError, httpx.HTTPError, ValueError, KeyError) as exc:
                        results.failed.append({"uri": event.get("uri"), "error": _reason(exc)})
        except (AirflowException, AirflowRuntimeError, httpx.HTTPError, ValueError, KeyError) as exc:
            # before the first event (connection, token): every event not yet handled fails for this reason
            handled = len(results.created) + len(results.failed)
            results.failed += [{"uri": e.get("uri"), "error": _reason(exc)} for e in events[handled:]]
        return results

    def post_asset_events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create one asset event per ``{"uri": ..., "extra": {...}}``; returns Airflow's records.

        Strict: the first failure raises :class:`AssetEventError` naming the URI and Airflow's answer.
        """
        results = self.send_asset_events(events)
        if results.failed:
            raise AssetEventError("; ".join(str(failure["error"]) for failure in results.failed))
        return results.created


def _reason(exc: BaseException) -> str:
    if isinstance(exc, httpx.HTTPError):
        where = f" ({exc.request.method} {exc.request.url})" if _has_request(exc) else ""
        return f"Airflow API unreachable{where}: {type(exc).__name__}: {exc}"
    if isinstance(exc, ValueError | KeyError):
        return f"Airflow API answered something other than the JSON expected: {type(exc).__name__}: {exc}"
    return str(exc)


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018  (httpx raises RuntimeError when the error carries no request)
    except RuntimeError:
        return False
    return True
