"""The approval audit: every decision on a trade break, appended to a table nobody updates or deletes.

Database triggers refuse ``UPDATE``, ``DELETE`` (and ``TRUNCATE`` on Postgres) on the table, so the audit is
append-only for everyone who can reach it through tradeflow's own connection. One row per (thread, run,
break): a node that re-runs after a crash appends nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from access.db import AccessDB


@dataclass(frozen=True)
class Decision:
    """One decision on one break."""

    identity: str
    """Who decided (the authenticated identity; ``system`` for a decision by policy)."""
    thread_id: str
    run_id: str
    workflow: str
    break_id: str
    decision: str
    """``approved``, ``rejected`` or ``auto_approved``."""
    reason: str
    requested_by: str | None = None
    """Who started the run that asked for the decision."""
    decided_at: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return dict(self.__dict__)


_COLUMNS = "decided_at, identity, requested_by, thread_id, run_id, workflow, break_id, decision, reason"


class ApprovalAudit:
    """Append and read decisions."""

    def __init__(self, db: AccessDB) -> None:
        self.db = db

    def append(self, decision: Decision) -> bool:
        """Append ``decision``; False when this (thread, run, break) was already recorded."""
        decided_at = decision.decided_at or datetime.now(UTC).isoformat()
        values = (decided_at, decision.identity, decision.requested_by, decision.thread_id, decision.run_id,
                  decision.workflow, decision.break_id, decision.decision, decision.reason)  # fmt: skip
        with self.db.cursor() as cur:
            cur.execute(
                self.db.sql(f"INSERT INTO tradeflow_approval_audit ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                            " ON CONFLICT (thread_id, run_id, break_id) DO NOTHING"),
                values,
            )  # fmt: skip
            return bool(cur.rowcount)

    def decisions(self, *, thread_id: str | None = None, break_id: str | None = None) -> list[Decision]:
        """Recorded decisions, oldest first, optionally for one thread or one break."""
        query, params = f"SELECT {_COLUMNS} FROM tradeflow_approval_audit WHERE 1 = 1", list[str]()
        if thread_id is not None:
            query, params = query + " AND thread_id = ?", [*params, thread_id]
        if break_id is not None:
            query, params = query + " AND break_id = ?", [*params, break_id]
        with self.db.cursor() as cur:
            cur.execute(self.db.sql(query + " ORDER BY id"), tuple(params))
            rows = cur.fetchall()
        return [
            Decision(
                identity=r[1],
                requested_by=r[2],
                thread_id=r[3],
                run_id=r[4],
                workflow=r[5],
                break_id=r[6],
                decision=r[7],
                reason=r[8],
                decided_at=r[0].isoformat() if isinstance(r[0], datetime) else str(r[0]),
            )
            for r in rows
        ]
