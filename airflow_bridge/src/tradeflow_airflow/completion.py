"""What a finished workflow does on the Airflow side: outlet events with run ids, REST asset events."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from tradeflow_airflow.hooks.airflow_api import AirflowAPIHook
from tradeflow_airflow.runs import RunOutcome, resolved_version

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context

logger = logging.getLogger(__name__)


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


def post_asset_events(conn_id: str, outcome: RunOutcome, context: Context) -> None:
    """Post the run's ``airflow_asset_events`` through Airflow's REST API; XCom ``asset_events`` lists them."""
    events = (outcome["values"] or {}).get("airflow_asset_events") or []
    if not events:
        return
    created = AirflowAPIHook(conn_id).post_asset_events(list(events))
    context["ti"].xcom_push(key="asset_events", value=[{"id": e.get("id"), "uri": e.get("uri")} for e in created])
