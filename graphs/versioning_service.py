"""Workflow versioning as the CLI and the HTTP routes use it: one object per process, built from settings.

Each operation validates before it writes: a spec is checked against the trading registry before it is
published, a label move checks the version exists, an experiment checks its arms and weights.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from pydantic import ValidationError

from analytics.store import Store
from analytics.versions import experiment_samples, version_samples
from core.settings import Settings, get_settings, on_settings_reset
from graphs.workflows import registry
from versioning.compile import CompiledWorkflow, load_workflow
from versioning.db import VersioningDB
from versioning.diff import structural_diff, unified_diff
from versioning.errors import ConflictError, LabelError, SpecError, SpecProblem
from versioning.experiments import Experiments
from versioning.guardrails import Guardrail, WindowFigures, breaches
from versioning.labels import ANY, KEEP, LabelMove, Labels
from versioning.report import experiment_report
from versioning.resolve import Resolver
from versioning.spec import WorkflowSpec, parse_spec
from versioning.stats import summarise
from versioning.store import GitStore, Published, check_metadata


class VersioningService:
    """The Git store, labels, experiments and the resolver, for one settings object."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = GitStore(settings.workflows_repo_path)
        self.db = VersioningDB(settings.database_url, settings.versioning_sqlite_path)
        self.labels = Labels(self.db, self.store)
        self.experiments = Experiments(self.db, self.store, self.labels)
        self.resolver = Resolver(self.db, self.store, self.labels, self.experiments, registry())
        self._specs: dict[tuple[str, int], WorkflowSpec] = {}

    def close(self) -> None:
        """Close the database connections and stop the change listener (the Git store holds nothing open)."""
        self.db.close()

    # --- specs ---------------------------------------------------------------------------------
    def validate(self, text: str, file: str) -> CompiledWorkflow:
        """Parse, check and compile; a :class:`SpecError` names file, line and field."""
        return load_workflow(text, registry(), file=file)

    def publish(self, *, text: str | None = None, spec: dict[str, Any] | None = None, message: str = "",
                author: str = "", file: str = "<request>") -> Published:  # fmt: skip
        """Validate (spec, message, author), then commit and tag; identical content returns the existing version."""
        if (text is None) == (spec is None):
            raise SpecError(
                [SpecProblem(file, None, "yaml", "send the spec as 'yaml' (text) or as 'spec' (an object)")]
            )
        if text is None:
            text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
        compiled = self.validate(text, file)
        check_metadata(message, author)
        return self.store.publish(compiled.spec.id, text, message=message, author=author)

    def spec(self, workflow: str, version: int) -> tuple[WorkflowSpec, str, str]:
        """A version's parsed spec, its text and commit."""
        text, sha = self.store.read(workflow, version)
        key = (workflow, version)
        if key not in self._specs:
            self._specs[key] = parse_spec(text, f"{workflow}.yaml@v{version}")[0]
        return self._specs[key], text, sha

    # --- reading ---------------------------------------------------------------------------------
    def workflows(self) -> list[dict[str, Any]]:
        """Every published workflow: latest version, labels, owner, description, schedule."""
        labels = self.labels.all()
        listed = []
        for workflow, versions in sorted(self.store.all_versions().items()):
            latest = versions[-1].version
            spec, _, _ = self.spec(workflow, latest)
            listed.append({
                "workflow": workflow, "latest_version": latest, "labels": labels.get(workflow, {}),
                "owner": spec.owner, "description": spec.description,
                "schedule": spec.schedule.model_dump(mode="json") if spec.schedule else None,
            })  # fmt: skip
        return listed

    def versions(self, workflow: str) -> list[dict[str, Any]]:
        """History: version, sha, author, time, message."""
        return [{"version": v.version, "sha": v.sha, "author": v.author, "time": v.time, "message": v.message}
                for v in self.store.versions(workflow)]  # fmt: skip

    def version(self, workflow: str, version: int) -> dict[str, Any]:
        """One version: its spec as an object and as the YAML that was published."""
        spec, text, sha = self.spec(workflow, version)
        return {"workflow": workflow, "version": version, "sha": sha,
                "spec": spec.model_dump(mode="json", by_alias=True, exclude_defaults=True), "yaml": text}  # fmt: skip

    def resolve(self, workflow: str, *, label: str | None = None, version: int | None = None,
                unit_key: str | None = None) -> dict[str, Any]:  # fmt: skip
        """What a run with these fields would get now."""
        return self.resolver.resolve(workflow, label=label, version=version, unit_key=unit_key).as_dict()

    def diff(self, workflow: str, old: int, new: int) -> dict[str, Any]:
        """Structural and unified diff between two versions."""
        a, a_text, _ = self.spec(workflow, old)
        b, b_text, _ = self.spec(workflow, new)
        text = unified_diff(a_text, b_text, f"{workflow}.yaml@v{old}", f"{workflow}.yaml@v{new}")
        return {"workflow": workflow, "from": old, "to": new, "structural": structural_diff(a, b), "unified": text}

    # --- experiments and guardrails --------------------------------------------------------------
    def experiment_report(self, experiment_id: str, analytics: Store) -> dict[str, Any]:
        """Per-arm figures, SRM and significance (and the shadow pairs) from the analytics rows."""
        experiment = self.experiments.get(experiment_id)
        since = datetime.fromisoformat(experiment.started_at) - timedelta(minutes=1)
        return experiment_report(experiment, experiment_samples(analytics, experiment.workflow, experiment.id, since))

    @staticmethod
    def parse_guardrail(values: object) -> Guardrail:
        """Thresholds from plain values; a :class:`LabelError` names the bad one."""
        try:
            return Guardrail.model_validate(values)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(["guardrail", *map(str, error["loc"])])
            raise LabelError(f"{field}: {error['msg'].removeprefix('Value error, ')}", field=field) from None

    def move_label(
        self, workflow: str, label: str, version: int, *, actor: str, reason: str = "", expect: object = ANY,
        guardrail: dict[str, Any] | object | None = KEEP,
    ) -> LabelMove:  # fmt: skip
        """Point a label at a version; thresholds (a dict, or None to clear them) move with it, in one transaction.

        A bad threshold is refused before anything is written; ``expect`` makes the move conditional.
        """
        thresholds = guardrail if guardrail is KEEP else self.parse_guardrail(guardrail) if guardrail else None
        return self.labels.move(workflow, label, version, actor=actor, reason=reason, expect=expect,
                                guardrail=thresholds)  # fmt: skip

    def set_guardrail(self, workflow: str, label: str, values: dict[str, Any] | None, *, actor: str) -> None:
        """Attach (or with None remove) thresholds on a label."""
        self.labels.set_guardrail(workflow, label, self.parse_guardrail(values) if values else None, actor=actor)

    def check_guardrails(self, analytics: Store, now: datetime | None = None) -> list[dict[str, Any]]:
        """Roll back every label whose version crosses a threshold; returns what moved (each audited)."""
        now = now or datetime.now(UTC)
        moved = []
        for workflow, label, version, guardrail in self.labels.guardrails():
            samples = version_samples(analytics, workflow, str(version), now - timedelta(seconds=guardrail.window_s))
            figures = summarise(label, [s.success for s in samples], [s.duration_s for s in samples],
                                [s.cost_usd for s in samples])  # fmt: skip
            window = WindowFigures(figures.runs, figures.runs - figures.successes, figures.p95_s,
                                   figures.cost_per_run_usd)  # fmt: skip
            found = breaches(guardrail, window)
            previous = self.labels.previous(workflow, label) if found else None
            if not found or previous is None:
                continue
            first = found[0]
            detail = {"threshold": first.threshold, "limit": first.limit, "measured": first.measured,
                      "runs": window.runs, "window_s": guardrail.window_s,
                      "breaches": [str(b) for b in found]}  # fmt: skip
            try:
                self.labels.move(workflow, label, previous, actor="guardrail", reason=str(first),
                                 action="auto_rollback", expect=version, detail=detail)  # fmt: skip
            except ConflictError:
                continue  # another replica (or a person) moved it first
            moved.append({"workflow": workflow, "label": label, "from": version, "to": previous} | detail)
        return moved


@functools.cache
def service() -> VersioningService:
    """The process's versioning service, built from the process's settings."""
    return VersioningService(get_settings())


@on_settings_reset
def _close_service() -> None:
    """Settings changed: the next :func:`service` builds a new one; this one's connections are closed now."""
    if service.cache_info().currsize:
        built = service()
        service.cache_clear()
        built.close()
