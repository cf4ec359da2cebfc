"""Approvals waiting for a decision, and the one-use credential that resumes one on its owner's behalf.

A run that pauses at an approval step records itself here (:meth:`ApprovalQueue.announce`), so an approver can
list what waits without reading other owners' threads (Aegra scopes every thread to its owner's identity). An
approver's decision (``POST /approvals/{thread_id}``) then *claims* the row and gets a delegation credential:
an opaque random token, stored only as its SHA-256, that the auth hook accepts as the thread's owner acting for
that approver, for one resume of that one thread with that one answer, for :data:`DELEGATION_TTL_S` seconds.
No signing secret exists: every replica checks a token against this table (Postgres when ``DATABASE_URL`` is
set). The token itself is never stored, logged or passed to the run; the user the run sees carries the claims.

Row states: ``pending`` (waiting), ``deciding`` (claimed by one approver; a claim older than
:data:`CLAIM_STALE_S` may be taken over), ``decided`` (the graph recorded the decision).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from access.db import AccessDB
from access.roles import Caller, caller_from_user

TOKEN_PREFIX = "tfd_"
DELEGATION_TTL_S = 60.0
"""How long a delegation credential may start its resume."""
CLAIM_STALE_S = 600.0
"""How long a claim holds off other approvers when its resume never finished (a crashed replica)."""
_TABLE = "tradeflow_pending_approvals"


def digest(value: object) -> str:
    """SHA-256 of ``value`` as canonical JSON (a token, or the resume a credential is bound to)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class PendingApproval:
    """A run paused at an approval: what its interrupt shows, and who started it."""

    thread_id: str
    workflow: str
    requested_by: str | None
    request: dict[str, Any]
    requested_at: float
    status: str

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class Delegation:
    """What a delegation credential proves: resume ``thread_id`` (``owner``'s) with one answer, as ``approver``."""

    thread_id: str
    owner: str
    approver: Caller
    resume_sha256: str

    def as_user(self) -> dict[str, Any]:
        """The user the auth hook returns: the owner's identity (the server's tenant boundary), no roles of its own."""
        claims = {"thread_id": self.thread_id, "approver": self.approver.identity,
                  "approver_roles": list(self.approver.roles), "resume_sha256": self.resume_sha256}  # fmt: skip
        return {"identity": self.owner, "roles": [], "permissions": [], "is_authenticated": True, "delegation": claims}


def _plain(value: Any) -> Mapping[str, Any] | None:
    """A nested user field as a mapping (langgraph-api wraps nested dicts in its own ``DotDict``)."""
    if isinstance(value, Mapping):
        return value
    as_dict = getattr(value, "dict", None)
    found = as_dict() if callable(as_dict) else None
    return found if isinstance(found, Mapping) else None


def delegation_from_user(user: Any) -> Delegation | None:
    """The delegation a server's user object carries (as :meth:`Delegation.as_user` made it), or None."""
    if user is None:
        return None
    claims = _plain(user.get("delegation") if isinstance(user, Mapping) else getattr(user, "delegation", None))
    caller = caller_from_user(user)
    if claims is None or caller is None:
        return None
    approver = claims.get("approver")
    roles = claims.get("approver_roles") or ()
    if not isinstance(approver, str) or not approver or not isinstance(roles, list | tuple):
        return None
    return Delegation(str(claims.get("thread_id") or ""), caller.identity, Caller(approver, tuple(map(str, roles))),
                      str(claims.get("resume_sha256") or ""))  # fmt: skip


def approver_from_config(config: Mapping[str, Any] | None) -> Caller | None:
    """The approver a delegated run acts for (from the user the server put in its config), or None."""
    configurable = (config or {}).get("configurable") or {}
    delegation = delegation_from_user(configurable.get("langgraph_auth_user"))
    return None if delegation is None else delegation.approver


_COLUMNS = "thread_id, workflow, requested_by, request, requested_at, status"


class ApprovalQueue:
    """The ``tradeflow_pending_approvals`` table."""

    def __init__(self, db: AccessDB) -> None:
        self.db = db

    def announce(self, thread_id: str, workflow: str, requested_by: str | None, request: Mapping[str, Any]) -> None:
        """Record that ``thread_id`` waits at an approval showing ``request``.

        The node runs again when it is resumed: the same request leaves a claimed row as it is; a new one (the
        answer was refused and asked for again, or a later approval on the thread) makes it pending again.
        """
        body = json.dumps(dict(request), sort_keys=True, default=str)
        with self.db.cursor() as cur:
            cur.execute(
                self.db.sql(
                    f"INSERT INTO {_TABLE} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, 'pending') ON CONFLICT (thread_id) "
                    "DO UPDATE SET workflow = excluded.workflow, requested_by = excluded.requested_by, "
                    "request = excluded.request, requested_at = excluded.requested_at, status = 'pending', "
                    "claim_hash = NULL, claim_used = 0, decided_by = NULL "
                    f"WHERE {_TABLE}.status = 'decided' OR {_TABLE}.request <> excluded.request"
                ),
                (thread_id, workflow, requested_by, body, time.time()),
            )

    def _rows(self, where: str, params: tuple[Any, ...]) -> list[PendingApproval]:
        with self.db.cursor() as cur:
            cur.execute(self.db.sql(f"SELECT {_COLUMNS} FROM {_TABLE} WHERE {where} ORDER BY requested_at"), params)
            rows = cur.fetchall()
        return [PendingApproval(r[0], r[1], r[2], json.loads(r[3]), float(r[4]), r[5]) for r in rows]

    def pending(self) -> list[PendingApproval]:
        """Every approval not yet decided, oldest first."""
        return self._rows("status <> 'decided'", ())

    def get(self, thread_id: str) -> PendingApproval | None:
        """The approval ``thread_id`` waits at (None when it waits at none)."""
        found = self._rows("thread_id = ? AND status <> 'decided'", (thread_id,))
        return found[0] if found else None

    def claim(
        self, thread_id: str, owner: str, approver: Caller, resume: object, ttl_s: float = DELEGATION_TTL_S
    ) -> str | None:
        """A delegation credential for ``approver`` to resume ``thread_id`` with ``resume``; None if claimed already."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        params = (digest(token), owner, approver.identity, ",".join(approver.roles), digest(resume), now,
                  now + ttl_s, thread_id, now - CLAIM_STALE_S)  # fmt: skip
        with self.db.cursor() as cur:
            cur.execute(
                self.db.sql(
                    f"UPDATE {_TABLE} SET status = 'deciding', claim_hash = ?, claim_owner = ?, claim_approver = ?, "
                    "claim_roles = ?, claim_resume = ?, claim_at = ?, claim_expires = ?, claim_used = 0 "
                    "WHERE thread_id = ? AND (status = 'pending' OR (status = 'deciding' AND claim_at < ?))"
                ),
                params,
            )
            return token if cur.rowcount else None

    def release(self, token: str) -> None:
        """Give a claim back (its resume did not happen): the approval is pending again, the token dead."""
        with self.db.cursor() as cur:
            cur.execute(
                self.db.sql(f"UPDATE {_TABLE} SET status = 'pending', claim_hash = NULL "
                            "WHERE claim_hash = ? AND status = 'deciding'"),
                (digest(token),),
            )  # fmt: skip

    def delegation(self, token: str) -> Delegation | None:
        """What ``token`` proves, while it is claimed, unused and unexpired; None otherwise (forged, used, late)."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        with self.db.cursor() as cur:
            cur.execute(
                self.db.sql(f"SELECT thread_id, claim_owner, claim_approver, claim_roles, claim_resume FROM {_TABLE} "
                            "WHERE claim_hash = ? AND status = 'deciding' AND claim_used = 0 AND claim_expires > ?"),
                (digest(token), time.time()),
            )  # fmt: skip
            row = cur.fetchone()
        if row is None:
            return None
        roles = tuple(r for r in str(row[3] or "").split(",") if r)
        return Delegation(row[0], row[1], Caller(row[2], roles), row[4])

    def consume(self, delegation: Delegation) -> bool:
        """Spend ``delegation`` on the one run it may create; False when it was spent already."""
        with self.db.cursor() as cur:
            cur.execute(
                self.db.sql(f"UPDATE {_TABLE} SET claim_used = 1 WHERE thread_id = ? AND claim_approver = ? "
                            "AND claim_resume = ? AND status = 'deciding' AND claim_used = 0 AND claim_expires > ?"),
                (delegation.thread_id, delegation.approver.identity, delegation.resume_sha256, time.time()),
            )  # fmt: skip
            return bool(cur.rowcount)

    def decided(self, thread_id: str, identity: str) -> None:
        """The graph recorded ``identity``'s decision on ``thread_id``: it waits no more."""
        with self.db.cursor() as cur:
            cur.execute(
                self.db.sql(f"UPDATE {_TABLE} SET status = 'decided', decided_by = ?, claim_hash = NULL "
                            "WHERE thread_id = ?"),
                (identity, thread_id),
            )  # fmt: skip
