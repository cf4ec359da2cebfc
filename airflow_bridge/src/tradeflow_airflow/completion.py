"""What a finished workflow does on the Airflow side: the version link, outlet events, REST asset events."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import httpx
from langgraph_sdk.errors import LangGraphError

from tradeflow_airflow.errors import AssetEventError
from tradeflow_airflow.hooks.airflow_api import AirflowAPIHook
from tradeflow_airflow.hooks.langgraph import LangGraphHook
from tradeflow_airflow.runs import RunOutcome, resolved_version

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context

logger = logging.getLogger(__name__)


SPEC_METADATA = {
    "workflow": "tradeflow_workflow", "version": "tradeflow_spec_version", "spec_sha": "tradeflow_spec_sha",
    "label": "tradeflow_label", "experiment": "tradeflow_experiment", "arm": "tradeflow_arm",
}  # fmt: skip
"""Thread metadata keys for the resolved version, so the server side finds the Airflow runs of a spec version."""


def link_spec_version(conn_id: str, outcome: RunOutcome, context: Context) -> dict[str, Any] | None:
    """Link the spec version a workflow run resolved and Airflow's DAG version, both ways; returns the XCom record.

    Airflow side: XCom ``workflow_version`` (the resolved version with ``airflow_dag_version``, the id of
    Airflow's DAG version this task ran with). Server side: the thread's metadata gets ``tradeflow_workflow``,
    ``tradeflow_spec_version``, ``tradeflow_spec_sha`` (and label, experiment, arm) beside the ``airflow_*`` ids
    it was created with, so ``threads.search(metadata={"tradeflow_spec_version": n, ...})`` lists the Airflow
    DAG runs and DAG versions that ran version n. Failing to write the metadata does not fail a run that
    succeeded: the link is logged as missing.
    """
    version = resolved_version(outcome["values"])
    if version is None:
        return None
    ti = context["ti"]
    dag_version_id = getattr(ti, "dag_version_id", None)
    record = {**version, "airflow_dag_version": str(dag_version_id) if dag_version_id is not None else None}
    ti.xcom_push(key="workflow_version", value=record)
    metadata = {key: version[field] for field, key in SPEC_METADATA.items() if version.get(field) is not None}
    try:
        with LangGraphHook(conn_id).get_sync_client() as client:
            client.threads.update(outcome["thread_id"], metadata=metadata)
    except (LangGraphError, httpx.HTTPError) as exc:
        logger.warning(
            "the run succeeded but its thread %s does not record spec version %s of %s: %s: %s",
            outcome["thread_id"], version["version"], version["workflow"], type(exc).__name__, exc,
        )  # fmt: skip
    logger.info(
        "workflow %s ran as version %s (label %s, Airflow DAG version %s)",
        version["workflow"], version["version"], version["label"], record["airflow_dag_version"],
    )  # fmt: skip
    return record


def mark_outlets(task: BaseOperator, context: Context, outcome: RunOutcome) -> None:
    """Give each declared outlet's event the ids that lead back to the run (and the spec version)."""
    extra: dict[str, Any] = {"tradeflow_thread_id": outcome["thread_id"], "tradeflow_run_id": outcome["run_id"]}
    version = resolved_version(outcome["values"])
    if version is not None:
        extra |= {"workflow": version["workflow"], "workflow_version": version["version"]}
    for outlet in task.outlets:
        try:
            context["outlet_events"][outlet].extra.update(extra)
        except (KeyError, TypeError, AttributeError):  # an outlet kind without extras (an alias)
            continue


def post_asset_events(conn_id: str, outcome: RunOutcome, context: Context, *, strict: bool = False) -> None:
    """Post the run's ``airflow_asset_events`` through Airflow's REST API; XCom ``asset_events`` lists them.

    An event Airflow does not record (API down, token refused, unknown asset) does not fail a task whose run
    succeeded: each is logged as a warning and listed in XCom ``asset_event_failures`` (``uri``, ``error``).
    With ``strict`` the task fails instead, naming every failed event.
    """
    events = (outcome["values"] or {}).get("airflow_asset_events") or []
    if not events:
        return
    ids = {"tradeflow_thread_id": outcome["thread_id"], "tradeflow_run_id": outcome["run_id"]}
    version = resolved_version(outcome["values"])
    if version is not None:
        ids |= {"workflow": version["workflow"], "workflow_version": version["version"]}
    # each event's extra leads back to the run, as the outlets' events do (the workflow's own keys win)
    events = [{**e, "extra": ids | dict(e.get("extra") or {})} if isinstance(e, dict) else e for e in events]
    results = AirflowAPIHook(conn_id).send_asset_events(events)
    ti = context["ti"]
    ti.xcom_push(key="asset_events", value=[{"id": e.get("id"), "uri": e.get("uri")} for e in results.created])
    if not results.failed:
        return
    ti.xcom_push(key="asset_event_failures", value=results.failed)
    summary = "; ".join(f"{failure['uri']}: {failure['error']}" for failure in results.failed)
    if strict:
        raise AssetEventError(
            f"{len(results.failed)} asset event(s) of run {outcome['run_id']} were not recorded by Airflow "
            f"(connection {conn_id!r}): {summary}"
        )
    for failure in results.failed:
        logger.warning(
            "run %s succeeded but its asset event for %s was not recorded by Airflow (connection %r): %s; "
            "downstream DAGs on that asset will not run for it (strict_asset_events=True fails the task instead)",
            outcome["run_id"], failure["uri"], conn_id, failure["error"],
        )  # fmt: skip
