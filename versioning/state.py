"""The ``versioned_workflow`` graph's schemas: what a caller sends, the internal state, what a run returns.

Apart from the graph (``versioning.subgraph``) so that listing graphs and validating input load no LangGraph.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, NotRequired

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

RESERVED = ("workflow", "label", "version", "unit_key")
"""Input/context keys that pick the version; the rest of the context is the workflow's own knobs."""


@with_config(ConfigDict(extra="forbid", use_attribute_docstrings=True))
class VersionedInput(TypedDict):
    """What a caller sends; workflow, label, version and unit_key may come as run context instead."""

    workflow: NotRequired[str]
    """Id of the published workflow to run."""
    label: NotRequired[str]
    """Label to resolve (default 'production'); 'latest' is the newest version."""
    version: NotRequired[int | None]
    """Pin a version; wins over the label and any experiment."""
    unit_key: NotRequired[str | None]
    """Experiment unit (desk id, break id): the same key always gets the same arm. Default: the thread id."""
    input: NotRequired[dict[str, Any]]
    """The workflow's own input."""
    context: NotRequired[dict[str, Any]]
    """The workflow's own knobs (its context)."""


class VersionedOutput(TypedDict):
    """What a versioned run returns."""

    workflow: str
    """The workflow that ran."""
    version: int
    """The version that ran, resolved once at the start."""
    spec_sha: str
    """Git commit of that version."""
    label: str | None
    """The label it was resolved from (None when pinned)."""
    experiment: str | None
    """The experiment the run was assigned in, if any."""
    arm: str | None
    """Its arm."""
    output: dict[str, Any]
    """The workflow's own output."""
    airflow_asset_events: list[dict[str, Any]]
    """Asset events the run emitted (the Airflow operator posts them)."""


class VersionedState(VersionedInput):
    """Internal state: the resolution and the outcome."""

    spec_sha: NotRequired[str]
    """Git commit of the resolved version."""
    experiment: NotRequired[str | None]
    """Experiment id."""
    arm: NotRequired[str | None]
    """Experiment arm."""
    pair_id: NotRequired[str]
    """Ties this run to its shadow run in analytics."""
    output: NotRequired[dict[str, Any]]
    """The workflow's own output."""
    airflow_asset_events: Annotated[list[dict[str, Any]], operator.add]
    """Asset events the run emitted."""
    finished_at: NotRequired[str]
    """UTC time the run finished."""
