"""Roles, the caller from a request or a run's config, the four-eyes rule, threshold conversion, the auth hook."""

from __future__ import annotations

from pathlib import Path

import pytest
from langgraph_sdk import Auth

from access.db import AccessDB
from access.errors import AccessDenied
from access.keys import KeyStore
from access.roles import Caller, caller_from_config, caller_from_request, parse_roles, require_role
from core.settings import reset_settings
from graphs import api_auth
from graphs.errors import InvalidInputError
from graphs.trade_break_triage.approval import ApprovalAnswer, four_eyes_problem
from graphs.trade_break_triage.threshold import check_convertible, notional_in_threshold_currency


def test_roles_imply_viewer_and_admin_holds_all() -> None:
    assert Caller("o", ("operator",)).permissions == ["operator", "viewer"]
    assert Caller("a", ("admin",)).has("approver")
    assert not Caller("v", ("viewer",)).has("operator")
    assert parse_roles(["viewer,approver", "approver"]) == ("viewer", "approver")
    with pytest.raises(AccessDenied, match="unknown role 'boss'"):
        parse_roles(["boss"])


def test_the_caller_is_read_from_what_each_server_passes() -> None:
    user = {"identity": "bob", "roles": ["approver"], "permissions": ["approver", "viewer"]}
    assert caller_from_config({"configurable": {"langgraph_auth_user": user}}) == Caller("bob", ("approver",))
    flat = {"configurable": {"langgraph_auth_user_id": "bob", "langgraph_auth_permissions": ["approver"]}}
    assert caller_from_config(flat) == Caller("bob", ("approver",))
    assert caller_from_config({"configurable": {"thread_id": "t"}}) is None
    assert caller_from_request({"user": user}) == Caller("bob", ("approver",))
    with pytest.raises(AccessDenied) as info:
        require_role({"type": "http"}, "viewer", "read")
    assert info.value.status == 401
    with pytest.raises(AccessDenied, match="'bob' \\(roles: approver\\) may not publish: it needs the operator role"):
        require_role({"user": user}, "operator", "publish")


@pytest.mark.parametrize(
    ("caller", "answer", "requested_by", "production", "field"),
    [
        (Caller("bob", ("approver",)), ApprovalAnswer(True, ""), "alice", False, None),
        (Caller("bob", ("approver",)), ApprovalAnswer(True, "", "bob"), "alice", False, None),
        (Caller("bob", ("approver",)), ApprovalAnswer(True, "", "boss"), "alice", False, "resume.approver"),
        (Caller("carl", ("operator",)), ApprovalAnswer(True, ""), "alice", False, "x-api-key"),
        (Caller("dave", ("operator", "approver")), ApprovalAnswer(True, ""), "dave", False, "x-api-key"),
        (Caller("bob", ("approver",)), ApprovalAnswer(True, ""), None, False, "requested_by"),
        (Caller("local", ("admin",)), ApprovalAnswer(True, ""), "local", False, None),  # a laptop
        (Caller("local", ("admin",)), ApprovalAnswer(True, ""), "local", True, "x-api-key"),  # never in production
    ],
)
def test_four_eyes(
    caller: Caller, answer: ApprovalAnswer, requested_by: str | None, production: bool, field: str | None
) -> None:
    problem = four_eyes_problem(caller, answer, requested_by, production=production)
    assert (problem.field if problem else None) == field


def test_notional_is_converted_to_the_threshold_currency() -> None:
    trade_break = {"notional": -2_000_000.0, "currency": "eur"}
    assert notional_in_threshold_currency(trade_break, {"EUR": 1.1}, "USD") == pytest.approx(2_200_000.0)
    assert notional_in_threshold_currency({"notional": 5.0, "currency": "USD"}, None, "usd") == 5.0
    with pytest.raises(InvalidInputError) as info:
        notional_in_threshold_currency(trade_break, {"GBP": 1.3}, "USD")
    assert info.value.fields == ["trade_break.currency"]
    with pytest.raises(InvalidInputError) as bad:
        check_convertible({"fx_rates": {"EUR": 0, "euro": 1.0}}, "USD")
    assert bad.value.fields == ["fx_rates.EUR", "fx_rates.euro"]


def _store(tmp_path: Path) -> KeyStore:
    return KeyStore(AccessDB(None, tmp_path / "access.sqlite"), cache_s=0)


async def test_authentication_modes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRADEFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TRADEFLOW_API_KEY", raising=False)
    monkeypatch.setenv("TRADEFLOW_METRICS_TOKEN", "scrape-me-7")
    monkeypatch.setenv("TRADEFLOW_KEY_CACHE_S", "0")
    assert (await api_auth.authenticate(headers={}))["identity"] == "local"  # a laptop: no key anywhere
    monkeypatch.setenv("TRADEFLOW_ENV", "production")
    reset_settings()
    with pytest.raises(Auth.exceptions.HTTPException, match="no API key is configured"):
        await api_auth.authenticate(headers={})  # never open to everyone in production
    monkeypatch.setenv("TRADEFLOW_ENV", "development")
    reset_settings()
    store = _store(tmp_path)
    _, key = store.add("vic", ["viewer"], created_by="test")
    with pytest.raises(Auth.exceptions.HTTPException) as info:
        await api_auth.authenticate(headers={})
    assert info.value.status_code == 401
    user = await api_auth.authenticate(headers={"x-api-key": key})  # text header keys work too
    assert (user["identity"], user["permissions"]) == ("vic", ["viewer"])
    bearer = {b"authorization": b"Bearer scrape-me-7"}
    assert (await api_auth.authenticate(headers=bearer, path="/metrics"))["identity"] == "metrics-scraper"
    with pytest.raises(Auth.exceptions.HTTPException):
        await api_auth.authenticate(headers=bearer, path="/reports/cost")
    store.revoke(key)
    with pytest.raises(Auth.exceptions.HTTPException) as revoked:
        await api_auth.authenticate(headers={b"x-api-key": key.encode()})
    assert revoked.value.detail == "unknown, wrong or revoked x-api-key"
