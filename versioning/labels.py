"""Labels (``production``, ``staging``, ``champion`` ...) pointing at versions, rollback, and the audit trail.

A label move is one transaction: the new pointer, its guardrail thresholds when they change, the audit
events (who, when, from, to, reason) and the epoch every cache compares against. Rollback moves a label
back; nothing in Git is checked out or rewritten. A move can be conditional (``expect``: the version the
caller saw); a rollback always is, on the version it read: when another mover got there first, the loser
gets a :class:`~versioning.errors.ConflictError` and nothing is written.
A label may carry guardrail thresholds (see :mod:`versioning.guardrails`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from versioning.db import Tx, VersioningDB
from versioning.errors import ConflictError, LabelError, UnknownVersionError, UnknownWorkflowError
from versioning.guardrails import Guardrail
from versioning.store import GitStore

LABEL_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LATEST = "latest"
"""Always the newest version; cannot be moved."""
ANY = object()
"""``expect=ANY``: an unconditional move."""
KEEP = object()
"""``guardrail=KEEP``: a move leaves the label's thresholds as they are."""


@dataclass(frozen=True)
class LabelMove:
    """A label that moved."""

    workflow: str
    label: str
    from_version: int | None
    to_version: int
    action: str


@dataclass(frozen=True)
class AuditEvent:
    """One entry of a workflow's audit trail."""

    id: int
    ts: str
    workflow: str
    action: str
    label: str | None
    from_version: int | None
    to_version: int | None
    actor: str
    reason: str | None
    detail: dict[str, Any] | None


def check_label(label: str) -> str:
    """A movable label name, or a :class:`LabelError`."""
    if not isinstance(label, str) or not LABEL_PATTERN.match(label):
        raise LabelError(f"label: expected lower-case letters, digits, '_' or '-' (e.g. production), got {label!r}")
    if label == LATEST:
        raise LabelError("label: 'latest' always points at the newest version and cannot be moved")
    return label


def record_event(tx: Tx, workflow: str, action: str, actor: str, **values: Any) -> None:
    """Append an audit event inside an open transaction."""
    tx.execute(
        "INSERT INTO workflow_audit (ts, workflow, action, label, from_version, to_version, actor, reason, detail) "
        "VALUES (:ts, :workflow, :action, :label, :from_version, :to_version, :actor, :reason, :detail)",
        {"ts": datetime.now(UTC), "workflow": workflow, "action": action, "actor": actor or "unknown",
         "label": values.get("label"), "from_version": values.get("from_version"),
         "to_version": values.get("to_version"), "reason": values.get("reason"), "detail": values.get("detail")},
    )  # fmt: skip


class Labels:
    """Label pointers and the audit trail, in the versioning database."""

    def __init__(self, db: VersioningDB, store: GitStore) -> None:
        self.db = db
        self.store = store

    def get(self, workflow: str, label: str) -> int | None:
        """The version ``label`` points at (``latest``: the newest), or None."""
        if label == LATEST:
            return self.store.versions(workflow)[-1].version
        rows = self.db.fetch("SELECT version FROM workflow_labels WHERE workflow = :w AND label = :l",
                             {"w": workflow, "l": label})  # fmt: skip
        return int(rows[0][0]) if rows else None

    def all(self) -> dict[str, dict[str, int]]:
        """Workflow -> label -> version."""
        labels: dict[str, dict[str, int]] = {}
        for workflow, label, version in self.db.fetch("SELECT workflow, label, version FROM workflow_labels"):
            labels.setdefault(workflow, {})[label] = int(version)
        return labels

    def guardrails(self) -> list[tuple[str, str, int, Guardrail]]:
        """Every label that carries thresholds: (workflow, label, version, thresholds)."""
        rows = self.db.fetch(
            "SELECT workflow, label, version, guardrail FROM workflow_labels WHERE guardrail IS NOT NULL"
        )
        return [(w, lb, int(v), Guardrail.model_validate(self.db.json_out(g))) for w, lb, v, g in rows]

    def _check_version(self, workflow: str, label: str, version: object) -> int:
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise UnknownVersionError(f"version: expected a version number (1, 2, ...), got {version!r}")
        try:
            self.store.sha(workflow, version)
        except (UnknownVersionError, UnknownWorkflowError) as exc:
            raise UnknownVersionError(f"label {label!r} cannot point at version {version}: {exc}") from None
        return version

    def move(
        self, workflow: str, label: str, version: int, *, actor: str, reason: str = "", action: str = "move",
        expect: object = ANY, detail: dict[str, Any] | None = None, guardrail: Guardrail | object | None = KEEP,
    ) -> LabelMove:  # fmt: skip
        """Point ``label`` at ``version`` (and set or, with None, clear its thresholds), in one transaction.

        With ``expect`` (a version, or None for "no such label yet") the move happens only if the label still
        points there; otherwise a :class:`ConflictError` says where it points now, and nothing is written.
        """
        check_label(label)
        self._check_version(workflow, label, version)
        if expect is not ANY and expect is not None and (isinstance(expect, bool) or not isinstance(expect, int)):
            raise LabelError(f"expect: expected the version the label points at now, got {expect!r}", field="expect")
        with self.db.transaction() as tx:
            lock = " FOR UPDATE" if self.db.dialect == "postgres" else ""
            rows = tx.execute(f"SELECT version FROM workflow_labels WHERE workflow = :w AND label = :l{lock}",
                              {"w": workflow, "l": label})  # fmt: skip
            current = int(rows[0][0]) if rows else None
            if expect is not ANY and current != expect:
                raise ConflictError(
                    f"label {label!r} of workflow {workflow!r} points at {_v(current)}, not {_v(expect)} as this "
                    f"change expected: someone else moved it meanwhile; nothing was changed (see `tradeflow "
                    f"workflows audit {workflow}`, then retry)", field="label",
                )  # fmt: skip
            values = {"w": workflow, "l": label, "v": version, "at": datetime.now(UTC), "by": actor or "unknown"}
            if guardrail is KEEP:
                tx.execute(
                    "INSERT INTO workflow_labels (workflow, label, version, updated_at, updated_by) "
                    "VALUES (:w, :l, :v, :at, :by) ON CONFLICT (workflow, label) DO UPDATE SET "
                    "version = excluded.version, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                    values,
                )
            else:
                thresholds = _thresholds(guardrail)
                tx.execute(
                    "INSERT INTO workflow_labels (workflow, label, version, guardrail, updated_at, updated_by) "
                    "VALUES (:w, :l, :v, :g, :at, :by) ON CONFLICT (workflow, label) DO UPDATE SET "
                    "version = excluded.version, guardrail = excluded.guardrail, updated_at = excluded.updated_at, "
                    "updated_by = excluded.updated_by",
                    values | {"g": thresholds},
                )
            record_event(tx, workflow, action, actor, label=label, from_version=current, to_version=version,
                         reason=reason or None, detail=detail)  # fmt: skip
            if guardrail is not KEEP:
                record_event(tx, workflow, "guardrail", actor, label=label, to_version=version,
                             detail=_thresholds(guardrail))  # fmt: skip
            tx.bump_epoch()
        return LabelMove(workflow, label, current, version, action)

    def previous(self, workflow: str, label: str) -> int | None:
        """The version ``label`` pointed at before it was last moved to its current one (rollbacks skipped)."""
        current = self.get(workflow, label)
        rows = self.db.fetch(
            "SELECT from_version FROM workflow_audit WHERE workflow = :w AND label = :l AND to_version = :v "
            "AND from_version IS NOT NULL AND action = 'move' ORDER BY id DESC LIMIT 1",
            {"w": workflow, "l": label, "v": current},
        )
        return int(rows[0][0]) if rows else None

    def rollback(self, workflow: str, *, label: str = "production", to: int | None = None, actor: str,
                 reason: str, expect: object = ANY) -> LabelMove:  # fmt: skip
        """Move ``label`` back (to ``to``, or to the version before the current one), with a reason.

        Conditional on the version read here (or on ``expect``, the one the caller saw): a concurrent
        mover that got there first makes this one a :class:`ConflictError`, never a second rollback.
        """
        check_label(label)
        if not reason or not reason.strip():
            raise LabelError("reason: a rollback needs a reason (it goes into the audit trail)", field="reason")
        current = self.get(workflow, label)
        if expect is not ANY and current != expect:
            raise ConflictError(
                f"label {label!r} of workflow {workflow!r} points at {_v(current)}, not {_v(expect)} as this "
                f"rollback expected; nothing was changed (see `tradeflow workflows audit {workflow}`)", field="label",
            )  # fmt: skip
        if current is None:
            raise LabelError(f"label {label!r} of workflow {workflow!r} points at no version; nothing to roll back")
        target = to if to is not None else self.previous(workflow, label)
        if target is None:
            raise LabelError(
                f"to: label {label!r} of {workflow!r} has no earlier version to roll back to (it was first pointed "
                f"at version {current}); name the version to roll back to", field="to",
            )  # fmt: skip
        return self.move(workflow, label, target, actor=actor, reason=reason, action="rollback", expect=current)

    def set_guardrail(self, workflow: str, label: str, guardrail: Guardrail | None, *, actor: str) -> None:
        """Attach thresholds to a label (None removes them)."""
        check_label(label)
        value = _thresholds(guardrail)
        with self.db.transaction() as tx:
            rows = tx.execute("UPDATE workflow_labels SET guardrail = :g WHERE workflow = :w AND label = :l "
                              "RETURNING version", {"g": value, "w": workflow, "l": label})  # fmt: skip
            if not rows:
                raise LabelError(
                    f"label {label!r} of workflow {workflow!r} does not exist; point it at a version first"
                )
            record_event(tx, workflow, "guardrail", actor, label=label, to_version=int(rows[0][0]), detail=value)

    def audit(self, workflow: str, limit: int = 200) -> list[AuditEvent]:
        """The newest ``limit`` audit events of ``workflow``, oldest first."""
        rows = self.db.fetch(
            "SELECT id, ts, workflow, action, label, from_version, to_version, actor, reason, detail "
            "FROM workflow_audit WHERE workflow = :w ORDER BY id DESC LIMIT :n", {"w": workflow, "n": limit},
        )  # fmt: skip
        events = [AuditEvent(int(r[0]), self.db.time_out(r[1]) or "", r[2], r[3], r[4], r[5], r[6], r[7], r[8],
                             self.db.json_out(r[9])) for r in rows]  # fmt: skip
        return events[::-1]


def _thresholds(guardrail: object) -> dict[str, Any] | None:
    """A guardrail as stored (None: no thresholds)."""
    return guardrail.model_dump(exclude_none=True) if isinstance(guardrail, Guardrail) else None


def _v(version: object) -> str:
    return "no version" if version is None else f"version {version}"
