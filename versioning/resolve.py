"""Which version a run gets: a pinned version, else an experiment arm (by unit key), else a label.

Labels and experiments are cached in process, in a *generation* tagged with the database's change token
(see :meth:`versioning.db.VersioningDB.change_token`). A resolution reads the token first and then loads
into the generation of that token: whatever it loads is at least as new as the token, so a label move
that lands between the two (in any replica) can only leave its value in a generation the next token
discards, never in the current one. A load that finishes after a newer generation replaced its own writes
into the old one, which nobody reads any more. Compiled specs are cached per version: a version's content
never changes, so that cache never needs invalidating.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from versioning.compile import CompiledWorkflow, load_workflow
from versioning.db import VersioningDB
from versioning.errors import LabelError, ResolutionError, UnknownWorkflowError
from versioning.experiments import Experiment, Experiments
from versioning.labels import Labels
from versioning.store import GitStore
from versioning.tools import Registry

DEFAULT_LABEL = "production"


@dataclass(frozen=True)
class Resolution:
    """The version a run runs, and why."""

    workflow: str
    version: int
    sha: str
    label: str | None
    experiment: str | None = None
    arm: str | None = None
    shadow: int | None = None
    """A challenger version to run in shadow beside this run."""

    def as_dict(self) -> dict[str, Any]:
        """Plain form (the ``/resolve`` answer)."""
        data = asdict(self)
        data.pop("shadow")
        return data


class _NotCached(Exception):
    """A cache-only resolution would have to read Git or the database."""


class _Generation:
    """Labels and experiments loaded after the change token read ``token`` (None: a throw-away, uncached)."""

    __slots__ = ("experiments", "labels", "token")

    def __init__(self, token: int | None) -> None:
        self.token = token
        self.labels: dict[tuple[str, str], int | None] = {}
        self.experiments: dict[str, Experiment | None] = {}


class Resolver:
    """Resolves versions and hands out compiled specs, from caches kept fresh by the change token."""

    def __init__(
        self, db: VersioningDB, store: GitStore, labels: Labels, experiments: Experiments, registry: Registry
    ) -> None:
        self.db = db
        self.store = store
        self.labels = labels
        self.experiments = experiments
        self.registry = registry
        self._generation = _Generation(None)
        self._generation_lock = threading.Lock()
        self._shas: dict[tuple[str, int], str] = {}
        self._compiled: dict[tuple[str, int, bool], CompiledWorkflow] = {}
        self._compile_lock = threading.Lock()

    def _fresh(self, load: bool = True) -> _Generation:
        """The generation of the current token (read now, before anything is loaded)."""
        token = self.db.change_token()
        if token is None:
            return _Generation(None)  # unknown: load everything, keep nothing
        current = self._generation
        if current.token == token:
            return current
        if not load:
            raise _NotCached  # a new generation: nothing cached in it (and no lock taken on an event loop)
        with self._generation_lock:
            newest = self._generation.token
            if newest is not None and token < newest:
                return _Generation(token)  # a slower reader of an older token: load, but replace nothing
            if newest != token:
                self._generation = _Generation(token)
            return self._generation

    def forget(self) -> None:
        """Drop cached labels and experiments (what a label move does to them): the next call reads again."""
        with self._generation_lock:
            self._generation = _Generation(None)

    def resolve(
        self, workflow: str, *, label: str | None = None, version: int | None = None, unit_key: str | None = None
    ) -> Resolution:
        """The version for one run (call once, at its start)."""
        return self._resolve(workflow, label, version, unit_key, load=True)

    def resolve_cached(
        self, workflow: str, *, label: str | None = None, version: int | None = None, unit_key: str | None = None
    ) -> Resolution | None:
        """:meth:`resolve` from this process's caches, or None where it would read Git or the database.

        It does no I/O, so a run on an event loop can resolve without a worker thread: the change token must be
        in memory (Postgres, whose ``LISTEN`` thread keeps it; on SQLite reading it is a database call, so this
        is always None there) and the label, experiment and commit cached under it.
        """
        if not self.db.change_token_in_memory or self._generation.token is None:
            return None
        try:
            return self._resolve(workflow, label, version, unit_key, load=False)
        except _NotCached:
            return None

    def _resolve(
        self, workflow: str, label: str | None, version: int | None, unit_key: str | None, *, load: bool
    ) -> Resolution:
        if not isinstance(workflow, str) or not workflow:
            raise ResolutionError("workflow: expected the id of a published workflow", field="workflow")
        generation = self._fresh(load)
        if version is not None:
            if isinstance(version, bool) or not isinstance(version, int):
                raise ResolutionError(f"version: expected a version number, got {version!r}", field="version")
            return Resolution(workflow, version, self._sha(workflow, version, load), None)
        label = label or DEFAULT_LABEL
        experiment = self._experiment(generation, workflow, load)
        if experiment is not None and experiment.label == label and unit_key:
            arm = experiment.assign(str(unit_key))
            number = arm.version if arm.version is not None else self._label(generation, workflow, str(arm.label), load)
            return Resolution(workflow, number, self._sha(workflow, number, load), label, experiment.id, arm.name,
                              experiment.shadow)  # fmt: skip
        number = self._label(generation, workflow, label, load)
        return Resolution(workflow, number, self._sha(workflow, number, load), label)

    def _label(self, generation: _Generation, workflow: str, label: str, load: bool) -> int:
        key = (workflow, label)
        if key in generation.labels:
            cached = generation.labels[key]
        elif not load:
            raise _NotCached
        else:
            cached = generation.labels[key] = self.labels.get(workflow, label)
        if cached is None:
            if not load:
                raise _NotCached  # the error names an unknown workflow, which takes a Git read
            self.store.versions(workflow)  # an unknown workflow says so, rather than "no label"
            raise LabelError(f"workflow {workflow!r} has no label {label!r}; point it at a version with "
                             f"`tradeflow workflows label {workflow} {label} <version>`")  # fmt: skip
        return cached

    def _experiment(self, generation: _Generation, workflow: str, load: bool) -> Experiment | None:
        if workflow not in generation.experiments:
            if not load:
                raise _NotCached
            generation.experiments[workflow] = self.experiments.running(workflow)
        return generation.experiments[workflow]

    def sha(self, workflow: str, version: int) -> str:
        """The commit of a version (cached: it never changes)."""
        return self._sha(workflow, version, True)

    def _sha(self, workflow: str, version: int, load: bool) -> str:
        key = (workflow, version)
        if key not in self._shas:
            if not load:
                raise _NotCached
            self._shas[key] = self.store.sha(workflow, version)
        return self._shas[key]

    def cached(self, workflow: str, version: int) -> CompiledWorkflow | None:
        """The compiled spec if this process has it already (no I/O: safe on an event loop)."""
        return self._compiled.get((workflow, version, False))

    def compiled(self, workflow: str, version: int, *, shadow: bool = False) -> CompiledWorkflow:
        """A version's spec, compiled once per process (a shadow compile skips side effects and approvals)."""
        key = (workflow, version, shadow)
        found = self._compiled.get(key)
        if found is None:
            with self._compile_lock:
                found = self._compiled.get(key)
                if found is None:
                    text, _ = self.store.read(workflow, version)
                    found = load_workflow(text, self.registry, file=f"{workflow}.yaml@v{version}", shadow=shadow)
                    self._compiled[key] = found
        return found

    def known(self, workflow: str) -> bool:
        """Whether ``workflow`` was ever published."""
        try:
            self.store.versions(workflow)
        except UnknownWorkflowError:
            return False
        return True
