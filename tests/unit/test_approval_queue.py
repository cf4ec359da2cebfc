"""The approval queue and its one-use delegation credentials (SQLite here; Postgres in the server tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import Auth

from access.approvals import ApprovalQueue, approver_from_config, delegation_from_user
from access.db import AccessDB
from access.roles import Caller, caller_from_user
from access.runtime import approval_queue
from graphs import api_auth

REQUEST = {"break_id": "B-1", "requested_by": "dave", "instructions": "answer"}
BOB = Caller("bob", ("approver",))
ANSWER = {"approved": True, "comment": "ok"}


def _queue(tmp_path: Path) -> ApprovalQueue:
    return ApprovalQueue(AccessDB(None, tmp_path / "access.sqlite"))


def test_a_pause_is_listed_until_decided_and_a_later_pause_lists_it_again(tmp_path: Path) -> None:
    queue = _queue(tmp_path)
    queue.announce("t1", "trade_break_triage", "dave", REQUEST)
    [row] = queue.pending()
    assert (row.thread_id, row.requested_by, row.request, row.status) == ("t1", "dave", REQUEST, "pending")
    token = queue.claim("t1", "dave", BOB, ANSWER)
    assert token is not None
    queue.announce("t1", "trade_break_triage", "dave", REQUEST)  # the node runs again when resumed: still claimed
    assert queue.get("t1").status == "deciding"  # type: ignore[union-attr]
    queue.decided("t1", "bob")
    assert (queue.pending(), queue.get("t1")) == ([], None)
    assert queue.delegation(token) is None  # decided: the credential is dead
    queue.announce("t1", "trade_break_triage", "dave", REQUEST)  # a later approval on the same thread
    assert queue.get("t1").status == "pending"  # type: ignore[union-attr]


def test_a_refused_answer_asked_again_makes_the_approval_pending_again(tmp_path: Path) -> None:
    queue = _queue(tmp_path)
    queue.announce("t1", "trade_break_triage", "dave", REQUEST)
    token = queue.claim("t1", "dave", BOB, ANSWER)
    queue.announce("t1", "trade_break_triage", "dave", {**REQUEST, "problem": "four eyes"})
    assert queue.get("t1").status == "pending"  # type: ignore[union-attr]
    assert queue.delegation(str(token)) is None


def test_a_credential_is_one_approver_one_thread_one_answer_once(tmp_path: Path) -> None:
    queue = _queue(tmp_path)
    queue.announce("t1", "trade_break_triage", "dave", REQUEST)
    token = queue.claim("t1", "dave", BOB, ANSWER)
    assert token is not None
    assert token.startswith("tfd_")
    assert queue.claim("t1", "dave", Caller("eve", ("approver",)), ANSWER) is None  # one approver at a time
    assert queue.claim("t2", "dave", BOB, ANSWER) is None  # nothing waits there
    delegation = queue.delegation(token)
    assert delegation is not None
    assert (delegation.thread_id, delegation.owner, delegation.approver) == ("t1", "dave", BOB)
    assert queue.delegation("tfd_" + "x" * 43) is None  # forged
    assert queue.delegation(token[4:]) is None
    assert queue.consume(delegation) is True
    assert queue.consume(delegation) is False  # used
    assert queue.delegation(token) is None
    queue.release(token)  # its resume failed: pending again, and the credential stays dead
    assert queue.get("t1").status == "pending"  # type: ignore[union-attr]
    assert queue.delegation(token) is None


def test_an_expired_credential_proves_nothing(tmp_path: Path) -> None:
    queue = _queue(tmp_path)
    queue.announce("t1", "trade_break_triage", "dave", REQUEST)
    token = queue.claim("t1", "dave", BOB, ANSWER, ttl_s=-1)
    assert token is not None
    assert queue.delegation(token) is None


def test_the_user_a_delegation_makes_is_the_owner_with_no_roles_acting_for_the_approver(tmp_path: Path) -> None:
    queue = _queue(tmp_path)
    queue.announce("t1", "trade_break_triage", "dave", REQUEST)
    delegation = queue.delegation(str(queue.claim("t1", "dave", BOB, ANSWER)))
    assert delegation is not None
    user = delegation.as_user()
    assert caller_from_user(user) == Caller("dave", ())
    assert delegation_from_user(user) == delegation

    class DotDict:  # how langgraph-api wraps the nested dicts of the user the hook returns (the server test runs it)
        def __init__(self, value: dict[str, Any]) -> None:
            self._dict = value

        def dict(self) -> dict[str, Any]:
            return self._dict

    class Proxy:
        identity, roles, delegation = "dave", [], DotDict(user["delegation"])

    assert delegation_from_user(Proxy()) == delegation
    assert approver_from_config({"configurable": {"langgraph_auth_user": user}}) == BOB
    assert approver_from_config({"configurable": {"langgraph_auth_user": {"identity": "bob"}}}) is None
    assert "tfd_" not in repr(user)  # the credential itself is never in what the run sees


class _Ctx:
    def __init__(self, user: dict[str, Any], resource: str, action: str) -> None:
        self.user, self.resource, self.action, self.permissions = user, resource, action, []


async def test_the_hook_lets_a_credential_do_nothing_but_its_resume(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRADEFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRADEFLOW_API_KEY", "legacy-key-1234567890")
    queue = approval_queue()
    queue.announce("t1", "trade_break_triage", "dave", REQUEST)
    token = str(queue.claim("t1", "dave", BOB, ANSWER))
    user = await api_auth.authenticate(headers={b"x-api-key": token.encode()})
    assert user["identity"] == "dave"
    for forged in ("tfd_forged", token + "x"):
        with pytest.raises(Auth.exceptions.HTTPException) as info:
            await api_auth.authenticate(headers={b"x-api-key": forged.encode()})
        assert info.value.status_code == 401
    refusals: list[tuple[Any, Any]] = [
        (api_auth.search_threads, {}),
        (api_auth.create_thread, {"metadata": {}}),
        (api_auth.read_thread, {"thread_id": "t2"}),
        (api_auth.create_run, {"thread_id": "t2", "assistant_id": "trade_break_triage",
                               "kwargs": {"command": {"resume": ANSWER}}}),
        (api_auth.create_run, {"thread_id": "t1", "assistant_id": "trade_break_triage",
                               "kwargs": {"command": {"resume": {**ANSWER, "approved": False}}}}),
        (api_auth.create_run, {"thread_id": "t1", "assistant_id": "heartbeat", "kwargs": {"input": {"message": "x"}}}),
    ]  # fmt: skip
    for handler, value in refusals:
        with pytest.raises(Auth.exceptions.HTTPException) as refused:
            await handler(_Ctx(user, "threads", "x"), value)  # type: ignore[arg-type]
        assert refused.value.status_code == 403, (handler, value)
    assert await api_auth.read_thread(_Ctx(user, "threads", "read"), {"thread_id": "t1"}) == {"owner": "dave"}  # type: ignore[arg-type]
    assert queue.delegation(token) is not None  # none of that spent it
