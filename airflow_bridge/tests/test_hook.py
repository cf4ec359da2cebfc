"""The hook: connection fields to SDK clients (no server needed), and the provider's registration."""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import pytest

from tradeflow_airflow.errors import ConnectionConfigError
from tradeflow_airflow.hooks.airflow_api import AirflowAPIHook
from tradeflow_airflow.hooks.langgraph import LangGraphHook


def _conn(monkeypatch: pytest.MonkeyPatch, **fields: object) -> LangGraphHook:
    monkeypatch.setenv("AIRFLOW_CONN_LG_TEST", json.dumps({"conn_type": "langgraph", **fields}))
    return LangGraphHook("lg_test")


def test_the_client_gets_the_url_and_only_the_connections_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGGRAPH_API_KEY", "a-key-from-the-environment")
    hook = _conn(monkeypatch, host="tradeflow.internal", port=2024, password="conn-key")
    with hook.get_sync_client() as client:
        assert str(client.http.client.base_url) == "http://tradeflow.internal:2024"
        assert client.http.client.headers["x-api-key"] == "conn-key"
    with _conn(monkeypatch, host="https://tf.example:8443/").get_sync_client() as client:
        assert str(client.http.client.base_url) == "https://tf.example:8443"
        assert "x-api-key" not in client.http.client.headers


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"host": ""}, "host is empty; expected the tradeflow server URL"),
        ({"host": "h", "extra": {"timeout_s": "soon"}}, "extra timeout_s must be a number of seconds"),
        ({"host": "h", "extra": {"timeout_s": 3}}, "extra timeout_s must be >= 10"),
    ],
)
def test_a_bad_connection_is_named(monkeypatch: pytest.MonkeyPatch, fields: dict, message: str) -> None:
    with pytest.raises(ConnectionConfigError, match="connection 'lg_test'") as caught:
        _conn(monkeypatch, **fields).get_sync_client()
    assert message in str(caught.value)


def test_the_provider_is_registered_through_its_entry_point() -> None:
    (entry,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("tradeflow_airflow")]
    info = entry.load()()
    assert info["connection-types"] == [
        {
            "connection-type": "langgraph",
            "hook-class-name": "tradeflow_airflow.hooks.langgraph.LangGraphHook",
            "hook-name": "LangGraph server (tradeflow)",
        }
    ]
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManagerTaskRuntime()
    assert "tradeflow-airflow" in manager.providers
    hook = manager.hooks["langgraph"]
    assert hook is not None
    assert hook.hook_class_name == "tradeflow_airflow.hooks.langgraph.LangGraphHook"


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        ({"host": "airflow-api", "port": 8080}, "http://airflow-api:8080"),
        ({"host": "airflow-api:8080"}, "http://airflow-api:8080"),
        ({"host": "airflow-api:8080", "port": 8080}, "http://airflow-api:8080"),
        ({"host": "http://airflow-api:8080/"}, "http://airflow-api:8080"),
        ({"host": "http://airflow-api/", "port": 8080}, "http://airflow-api:8080"),
        ({"host": " HTTPS://airflow.example.com/airflow/ "}, "https://airflow.example.com/airflow"),
        ({"host": "airflow.example.com", "schema": "https"}, "https://airflow.example.com"),
        ({"host": "[::1]", "port": 8080}, "http://[::1]:8080"),
    ],
)
def test_the_airflow_api_url_is_the_same_whatever_form_the_host_takes(
    monkeypatch: pytest.MonkeyPatch, fields: dict, url: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_API_TEST", json.dumps({"conn_type": "http", **fields}))
    hook = AirflowAPIHook("api_test")
    assert hook._base_url(hook.get_connection("api_test")) == url
    lg_fields = {k: v for k, v in fields.items() if k != "schema"}
    if "schema" in fields:
        lg_fields["extra"] = {"scheme": fields["schema"]}
    with _conn(monkeypatch, **lg_fields).get_sync_client() as client:  # the langgraph hook reads hosts alike
        assert str(client.http.client.base_url).rstrip("/") == url


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"host": ""}, "host is empty; expected the Airflow API server URL"),
        ({"host": "http://airflow-api:8080", "port": 9090}, "the host says port 8080 and the port field says 9090"),
        ({"host": "ftp://airflow-api"}, "is not an http(s) URL or host name"),
        ({"host": "http://airflow-api:99999"}, "has a bad port"),
    ],
)
def test_a_bad_airflow_api_host_is_named_before_any_request(
    monkeypatch: pytest.MonkeyPatch, fields: dict, message: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_API_TEST", json.dumps({"conn_type": "http", **fields}))
    hook = AirflowAPIHook("api_test")
    with pytest.raises(ConnectionConfigError, match="connection 'api_test'") as caught:
        hook._base_url(hook.get_connection("api_test"))
    assert message in str(caught.value)
    results = hook.send_asset_events([{"uri": "tradeflow://x/y"}])  # lenient: a record per event, no raise
    assert results.created == []
    assert [f["uri"] for f in results.failed] == ["tradeflow://x/y"]
    assert message in results.failed[0]["error"]
