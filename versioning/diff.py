"""Differences between two versions, structural and textual.

Structural: steps added, removed and changed (field by field), edges, prompts, routing hints, the schedule
and the rest of the spec. Textual: a unified diff of the two YAML files.
"""

from __future__ import annotations

import difflib
from typing import Any

from versioning.checks import edges
from versioning.spec import WorkflowSpec

_TOP = ("description", "owner", "input", "context", "state", "output")


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat |= _flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return flat
    return {prefix: value}


def _steps(spec: WorkflowSpec) -> dict[str, dict[str, Any]]:
    return {step.id: step.model_dump(mode="json", by_alias=True, exclude_defaults=True) for step in spec.steps}


def _changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, dict[str, Any]]:
    a, b = _flatten(old), _flatten(new)
    return {key: {"from": a.get(key), "to": b.get(key)} for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)}


def structural_diff(old: WorkflowSpec, new: WorkflowSpec) -> dict[str, Any]:
    """What changed between two specs, step by step."""
    before, after = _steps(old), _steps(new)
    changed = {step: _changes(before[step], after[step]) for step in before.keys() & after.keys()}
    changed = {step: fields for step, fields in sorted(changed.items()) if fields}
    old_edges = {(s, t) for s, targets in edges(old).items() for t in targets}
    new_edges = {(s, t) for s, targets in edges(new).items() for t in targets}
    dumped_old, dumped_new = (s.model_dump(mode="json", by_alias=True, exclude_defaults=True) for s in (old, new))
    spec_changes = _changes({k: dumped_old.get(k) for k in _TOP}, {k: dumped_new.get(k) for k in _TOP})
    return {
        "steps": {"added": [s for s in after if s not in before], "removed": [s for s in before if s not in after],
                  "changed": changed},
        "edges": {"added": sorted(map(list, new_edges - old_edges)),
                  "removed": sorted(map(list, old_edges - new_edges))},
        "prompts": sorted(s for s, f in changed.items() if any(k.startswith("prompt.") for k in f)),
        "routing": sorted(s for s, f in changed.items() if any(k.startswith("routing.") for k in f)),
        "schedule": _changes(_schedule(old), _schedule(new)),
        "spec": spec_changes,
    }  # fmt: skip


def _schedule(spec: WorkflowSpec) -> dict[str, Any]:
    return spec.schedule.model_dump(mode="json") if spec.schedule is not None else {}


def unified_diff(old_text: str, new_text: str, old_name: str, new_name: str) -> str:
    """``diff -u`` of the two YAML files."""
    return "".join(
        difflib.unified_diff(old_text.splitlines(keepends=True), new_text.splitlines(keepends=True), old_name, new_name)
    )
