"""Which version a run gets: a pinned version, else an experiment arm (by unit key), else a label.

Labels and experiments are cached in process and dropped whenever the database's change token moves
(a label moved or an experiment changed, in any replica). Compiled specs are cached per version: a
version's content never changes, so that cache never needs invalidating.
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
_MISSING = object()


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
        self._token: object = _MISSING
        self._label_cache: dict[tuple[str, str], int | None] = {}
        self._experiment_cache: dict[str, Experiment | None] = {}
        self._shas: dict[tuple[str, int], str] = {}
        self._compiled: dict[tuple[str, int, bool], CompiledWorkflow] = {}
        self._compile_lock = threading.Lock()

    def _fresh(self) -> None:
        token = self.db.change_token()
        if token is None or token != self._token:
            self._label_cache = {}
            self._experiment_cache = {}
            self._token = token if token is not None else _MISSING

    def resolve(
        self, workflow: str, *, label: str | None = None, version: int | None = None, unit_key: str | None = None
    ) -> Resolution:
        """The version for one run (call once, at its start)."""
        if not isinstance(workflow, str) or not workflow:
            raise ResolutionError("workflow: expected the id of a published workflow", field="workflow")
        self._fresh()
        if version is not None:
            if isinstance(version, bool) or not isinstance(version, int):
                raise ResolutionError(f"version: expected a version number, got {version!r}", field="version")
            return Resolution(workflow, version, self.sha(workflow, version), None)
        label = label or DEFAULT_LABEL
        experiment = self._experiment(workflow)
        if experiment is not None and experiment.label == label and unit_key:
            arm = experiment.assign(str(unit_key))
            number = arm.version if arm.version is not None else self._label(workflow, str(arm.label))
            return Resolution(workflow, number, self.sha(workflow, number), label, experiment.id, arm.name,
                              experiment.shadow)  # fmt: skip
        return Resolution(workflow, (number := self._label(workflow, label)), self.sha(workflow, number), label)

    def _label(self, workflow: str, label: str) -> int:
        key = (workflow, label)
        if key in self._label_cache:
            cached = self._label_cache[key]
        else:
            cached = self._label_cache[key] = self.labels.get(workflow, label)
        if cached is None:
            self.store.versions(workflow)  # an unknown workflow says so, rather than "no label"
            raise LabelError(f"workflow {workflow!r} has no label {label!r}; point it at a version with "
                             f"`tradeflow workflows label {workflow} {label} <version>`")  # fmt: skip
        return cached

    def _experiment(self, workflow: str) -> Experiment | None:
        if workflow not in self._experiment_cache:
            self._experiment_cache[workflow] = self.experiments.running(workflow)
        return self._experiment_cache[workflow]

    def sha(self, workflow: str, version: int) -> str:
        """The commit of a version (cached: it never changes)."""
        key = (workflow, version)
        if key not in self._shas:
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
