"""A/B experiments on a workflow: arms with weights, sticky assignment, ramps and a shadow challenger.

Each arm is a version or a label. Experiments are stored with the labels and audited. At most one experiment
runs per workflow (checked, and enforced by a unique index against races). Ramps and stops are
compare-and-set on the experiment's ``revision``: the one read before the change (or the one the caller
saw); when another change got there first the loser gets a :class:`~versioning.errors.ConflictError` and
nothing is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from versioning.assignment import allocate, bucket, decode, encode
from versioning.db import VersioningDB
from versioning.errors import ConflictError, ExperimentError, UnknownVersionError, UnknownWorkflowError
from versioning.labels import Labels, check_label, record_event
from versioning.store import GitStore

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_COLUMNS = (
    "id, workflow, label, status, salt, arms, allocation, shadow, started_at, started_by, stopped_at, reason, "
    "ramped_at, revision"
)


@dataclass(frozen=True)
class Arm:
    """One arm: a fixed version or whatever a label points at."""

    name: str
    weight: float
    version: int | None = None
    label: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain form (stored, and shown by the API)."""
        data: dict[str, Any] = {"name": self.name, "weight": self.weight}
        data |= {"version": self.version} if self.version is not None else {"label": self.label}
        return data


@dataclass(frozen=True)
class Experiment:
    """An experiment and its bucket allocation."""

    id: str
    workflow: str
    label: str
    status: str
    salt: str
    arms: tuple[Arm, ...]
    table: bytes
    shadow: int | None
    started_at: str
    started_by: str
    stopped_at: str | None = None
    reason: str | None = None
    ramped_at: str | None = None
    """When the weights last changed (the start, or the last ramp): the sample-ratio check counts runs since."""
    revision: int = 0
    """Bumped by every ramp and stop; a change made from an older revision is refused."""

    def assign(self, unit_key: str) -> Arm:
        """The unit's arm: deterministic and sticky."""
        return self.arms[self.table[bucket(self.salt, unit_key)]]

    def as_dict(self) -> dict[str, Any]:
        """Plain form for the API and CLI."""
        return {"id": self.id, "workflow": self.workflow, "label": self.label, "status": self.status,
                "salt": self.salt, "arms": [a.as_dict() for a in self.arms], "shadow": self.shadow,
                "started_at": self.started_at, "started_by": self.started_by, "stopped_at": self.stopped_at,
                "reason": self.reason, "ramped_at": self.ramped_at, "revision": self.revision}  # fmt: skip


class Experiments:
    """Start, ramp, stop and read experiments."""

    def __init__(self, db: VersioningDB, store: GitStore, labels: Labels) -> None:
        self.db = db
        self.store = store
        self.labels = labels

    def _row(self, row: Sequence[Any]) -> Experiment:
        arms = tuple(Arm(**a) for a in self.db.json_out(row[5]))
        return Experiment(row[0], row[1], row[2], row[3], row[4], arms, decode(self.db.json_out(row[6])), row[7],
                          self.db.time_out(row[8]) or "", row[9], self.db.time_out(row[10]), row[11],
                          self.db.time_out(row[12]), int(row[13] or 0))  # fmt: skip

    def running(self, workflow: str) -> Experiment | None:
        """The workflow's running experiment, if any."""
        rows = self.db.fetch(f"SELECT {_COLUMNS} FROM workflow_experiments WHERE workflow = :w AND status = 'running'",
                             {"w": workflow})  # fmt: skip
        return self._row(rows[0]) if rows else None

    def get(self, experiment_id: str) -> Experiment:
        """One experiment by id."""
        rows = self.db.fetch(f"SELECT {_COLUMNS} FROM workflow_experiments WHERE id = :id", {"id": experiment_id})
        if not rows:
            raise ExperimentError(f"no experiment {experiment_id!r}", field="experiment")
        return self._row(rows[0])

    def list(self, workflow: str | None = None) -> list[Experiment]:
        """Experiments, newest first."""
        where = " WHERE workflow = :w" if workflow else ""
        rows = self.db.fetch(f"SELECT {_COLUMNS} FROM workflow_experiments{where} ORDER BY started_at DESC",
                             {"w": workflow} if workflow else {})  # fmt: skip
        return [self._row(r) for r in rows]

    def _arms(self, workflow: str, raw: Sequence[Mapping[str, Any]], shadow: int | None) -> tuple[Arm, ...]:
        if not isinstance(raw, Sequence) or not (1 if shadow else 2) <= len(raw) <= 20:
            raise ExperimentError("arms: expected 2 to 20 arms (or 1 with a shadow)", field="arms")
        arms = []
        for index, item in enumerate(raw):
            where = f"arms[{index}]"
            name, weight = item.get("name"), item.get("weight")
            if not isinstance(name, str) or not _NAME.match(name):
                raise ExperimentError(f"{where}.name: expected a short lower-case name, got {name!r}", field=where)
            if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1:
                raise ExperimentError(f"{where}.weight: expected a number from 0 to 1, got {weight!r}", field=where)
            version, label = item.get("version"), item.get("label")
            if (version is None) == (label is None):
                raise ExperimentError(f"{where}: give either version or label", field=where)
            if version is not None:
                self._version(workflow, version, where)
            elif self.labels.get(workflow, check_label(str(label)) if label != "latest" else "latest") is None:
                raise ExperimentError(f"{where}.label: {label!r} points at no version of {workflow!r}", field=where)
            extra = sorted(set(item) - {"name", "weight", "version", "label"})
            if extra:
                raise ExperimentError(f"{where}.{extra[0]}: unknown field", field=where)
            arms.append(Arm(name, float(weight), version, label))
        if len({a.name for a in arms}) != len(arms):
            raise ExperimentError("arms: arm names must be unique", field="arms")
        total = sum(a.weight for a in arms)
        if abs(total - 1.0) > 1e-6:
            raise ExperimentError(f"arms: weights sum to {total:g}; expected 1", field="arms")
        return tuple(arms)

    def _version(self, workflow: str, version: object, where: str) -> int:
        if isinstance(version, bool) or not isinstance(version, int):
            raise ExperimentError(f"{where}.version: expected a version number, got {version!r}", field=where)
        try:
            self.store.sha(workflow, version)
        except (UnknownVersionError, UnknownWorkflowError) as exc:
            raise ExperimentError(f"{where}.version: {exc}", field=where) from None
        return version

    def start(
        self, workflow: str, arms: Sequence[Mapping[str, Any]], *, actor: str, name: str | None = None,
        label: str = "production", salt: str | None = None, shadow: int | None = None, reason: str = "",
    ) -> Experiment:  # fmt: skip
        """Start an experiment; refused when the workflow already has one running."""
        self.store.versions(workflow)  # raises for a workflow never published
        check_label(label)
        if shadow is not None:
            self._version(workflow, shadow, "shadow")
        parsed = self._arms(workflow, arms, shadow)
        experiment_id = name or f"{workflow}-{datetime.now(UTC):%Y%m%d%H%M%S}"
        if not _NAME.match(experiment_id):
            raise ExperimentError(f"name: expected a short lower-case name, got {experiment_id!r}", field="name")
        current = self.running(workflow)
        if current is not None:
            raise ExperimentError(f"workflow {workflow!r} already runs experiment {current.id!r}; stop it first",
                                  field="workflow")  # fmt: skip
        table = allocate([a.weight for a in parsed])
        values = {"id": experiment_id, "w": workflow, "l": label, "salt": salt or experiment_id,
                  "arms": [a.as_dict() for a in parsed], "alloc": [list(r) for r in encode(table)], "shadow": shadow,
                  "at": datetime.now(UTC), "by": actor or "unknown"}  # fmt: skip
        try:
            with self.db.transaction() as tx:
                tx.execute(
                    "INSERT INTO workflow_experiments (id, workflow, label, status, salt, arms, allocation, shadow, "
                    "started_at, started_by, ramped_at) VALUES (:id, :w, :l, 'running', :salt, :arms, :alloc, :shadow, "
                    ":at, :by, :at)",
                    values,
                )
                detail = {"experiment": experiment_id, "arms": values["arms"], "shadow": shadow}
                record_event(tx, workflow, "experiment_start", actor, label=label, reason=reason or None, detail=detail)
                tx.bump_epoch()
        except ConflictError as exc:
            raise ExperimentError(f"cannot start {experiment_id!r}: {_why(exc)}", field="workflow") from None
        return self.get(experiment_id)

    def _current(self, experiment_id: str, expect_revision: int | None, doing: str) -> Experiment:
        experiment = self.get(experiment_id)
        if experiment.status != "running":
            raise ConflictError(f"experiment {experiment_id!r} is already {experiment.status}; cannot {doing} it",
                                field="experiment")  # fmt: skip
        if expect_revision is not None and expect_revision != experiment.revision:
            raise ConflictError(
                f"experiment {experiment_id!r} is at revision {experiment.revision}, not {expect_revision} as this "
                f"{doing} expected: it changed meanwhile; nothing was changed (read it again, then retry)",
                field="revision",
            )  # fmt: skip
        return experiment

    def _lost(self, experiment: Experiment, doing: str) -> ConflictError:
        now = self.get(experiment.id)
        what = "stopped" if now.status != "running" else f"ramped (revision {now.revision})"
        return ConflictError(f"experiment {experiment.id!r} was {what} by someone else while this {doing} was being "
                             f"made; nothing was changed (read it again, then retry)", field="experiment")  # fmt: skip

    def ramp(self, experiment_id: str, weights: Mapping[str, float], *, actor: str, reason: str = "",
             expect_revision: int | None = None) -> Experiment:  # fmt: skip
        """New weights; units stay in their arm unless it must give buckets up."""
        experiment = self._current(experiment_id, expect_revision, "ramp")
        unknown = sorted(set(weights) - {a.name for a in experiment.arms})
        if unknown:
            raise ExperimentError(f"weights.{unknown[0]}: no such arm", field="weights")
        raw = [a.as_dict() | {"weight": weights.get(a.name, a.weight)} for a in experiment.arms]
        arms = self._arms(experiment.workflow, raw, experiment.shadow)
        table = allocate([a.weight for a in arms], list(experiment.table))
        try:
            self._write_ramp(experiment, arms, table, weights, actor=actor, reason=reason)
        except _Lost:
            raise self._lost(experiment, "ramp") from None
        return self.get(experiment_id)

    def _write_ramp(self, experiment: Experiment, arms: Sequence[Arm], table: Sequence[int],
                    weights: Mapping[str, float], *, actor: str, reason: str) -> None:  # fmt: skip
        experiment_id = experiment.id
        with self.db.transaction() as tx:
            done = tx.execute(
                "UPDATE workflow_experiments SET arms = :arms, allocation = :alloc, ramped_at = :at, "
                "revision = revision + 1 WHERE id = :id AND status = 'running' AND revision = :rev RETURNING id",
                {"arms": [a.as_dict() for a in arms], "alloc": [list(r) for r in encode(table)],
                 "at": datetime.now(UTC), "id": experiment_id, "rev": experiment.revision},
            )  # fmt: skip
            if not done:
                raise _Lost
            detail = {"experiment": experiment_id, "weights": dict(weights), "revision": experiment.revision + 1}
            record_event(tx, experiment.workflow, "experiment_ramp", actor, label=experiment.label,
                         reason=reason or None, detail=detail)  # fmt: skip
            tx.bump_epoch()

    def stop(self, experiment_id: str, *, actor: str, reason: str = "",
             expect_revision: int | None = None) -> Experiment:  # fmt: skip
        """Stop a running experiment; runs resolve the label again."""
        experiment = self._current(experiment_id, expect_revision, "stop")
        try:
            self._write_stop(experiment, actor=actor, reason=reason)
        except _Lost:
            raise self._lost(experiment, "stop") from None
        return self.get(experiment_id)

    def _write_stop(self, experiment: Experiment, *, actor: str, reason: str) -> None:
        experiment_id = experiment.id
        with self.db.transaction() as tx:
            done = tx.execute(
                "UPDATE workflow_experiments SET status = 'stopped', stopped_at = :at, stopped_by = :by, "
                "reason = :reason, revision = revision + 1 WHERE id = :id AND status = 'running' AND revision = :rev "
                "RETURNING id",
                {"at": datetime.now(UTC), "by": actor or "unknown", "reason": reason or None, "id": experiment_id,
                 "rev": experiment.revision},
            )  # fmt: skip
            if not done:
                raise _Lost
            record_event(tx, experiment.workflow, "experiment_stop", actor, label=experiment.label,
                         reason=reason or None, detail={"experiment": experiment_id})  # fmt: skip
            tx.bump_epoch()


class _Lost(Exception):
    """The compare-and-set found another revision: the transaction rolls back."""


def _why(exc: Exception) -> str:
    text = str(exc.__cause__ or exc)
    if "one_running" in text or "workflow_experiments.workflow" in text:
        return "the workflow already runs an experiment"
    return "an experiment with that name exists" if "id" in text or "PRIMARY" in text or "pkey" in text else text
