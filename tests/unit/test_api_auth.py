from __future__ import annotations

import pytest
from langgraph_sdk import Auth

from graphs import api_auth


async def test_no_api_key_configured_accepts_local_requests(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("TRADEFLOW_API_KEY", raising=False)
    monkeypatch.setenv("TRADEFLOW_DATA_DIR", str(tmp_path))  # no key stored there
    user = await api_auth.authenticate(headers={})
    assert user["identity"] == "local"


async def test_configured_api_key_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEFLOW_API_KEY", "s3cret-value")
    with pytest.raises(Auth.exceptions.HTTPException) as info:
        await api_auth.authenticate(headers={})
    assert info.value.status_code == 401
    with pytest.raises(Auth.exceptions.HTTPException):
        await api_auth.authenticate(headers={b"x-api-key": b"wrong"})
    user = await api_auth.authenticate(headers={b"x-api-key": b"s3cret-value"})
    assert user["identity"] == "api-key"
    assert "admin" in user["permissions"]  # the compatibility key is an admin
