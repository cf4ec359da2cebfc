"""DAG factory: one Airflow DAG per scheduled workflow (published specs and ``workflows_config.yaml``).

Use it from two small DAG files (``python -m tradeflow_airflow.dag_files <dags folder>`` writes them):

* ``tradeflow_workflows.py`` builds every good entry: ``globals().update(workflow_dags(...))``. It never
  raises for a bad entry or an outage, so one bad spec cannot take the others down.
* ``tradeflow_workflows_check.py`` runs ``check_workflow_entries(...)``, which raises one
  :class:`~tradeflow_airflow.errors.WorkflowEntryError` naming every bad entry (and a server outage).

Two files because Airflow records import errors per *file*, and marks every DAG of a file that has an
import error as stale (not scheduled): a bad entry must not share a file with the good ones.

A generated DAG ``tradeflow__<id>`` has two tasks: ``run`` (:class:`LangGraphRunOperator`, the workflow
on the server, resolved from its label, or its pinned version) and ``finish``
(:class:`LangGraphThreadSensor`: returns at once when the run finished, or waits for the approval of an
interrupted run), which emits the spec's ``emits`` assets and the run's asset events.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, CronTriggerTimetable, Param

from tradeflow_airflow.catalog import default_cache_path, load_catalog
from tradeflow_airflow.errors import WorkflowEntryError
from tradeflow_airflow.hooks.airflow_api import AirflowAPIHook
from tradeflow_airflow.hooks.langgraph import LangGraphHook
from tradeflow_airflow.operators.run import LangGraphRunOperator
from tradeflow_airflow.sensors.thread import LangGraphThreadSensor
from tradeflow_airflow.workflow_entries import WorkflowEntry, from_config, from_server

logger = logging.getLogger(__name__)

DAG_ID_PREFIX = "tradeflow__"
START_DATE = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class EntryLoad:
    """The entries that can become DAGs, and every problem met on the way (one line each)."""

    entries: list[WorkflowEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _config_entries(config_path: Path, load: EntryLoad) -> None:
    if not config_path.exists():
        return
    try:
        body = yaml.safe_load(config_path.read_text()) or {}
    except yaml.YAMLError as exc:
        load.problems.append(f"{config_path}: not valid YAML: {exc}")
        return
    items = body.get("workflows") if isinstance(body, dict) else None
    if not isinstance(items, list):
        load.problems.append(f"{config_path}: expected a top-level 'workflows:' list")
        return
    for position, item in enumerate(items, start=1):
        try:
            load.entries.append(from_config(item, str(config_path), position))
        except WorkflowEntryError as exc:
            load.problems.append(str(exc))


def load_entries(
    *,
    langgraph_conn_id: str = LangGraphHook.default_conn_name,
    config_path: Path | None = None,
    cache_path: Path | None = None,
    refresh_s: float = 60.0,
    from_server_list: bool = True,
) -> EntryLoad:
    """Entries from the server's scheduled specs (cached) and the config file; duplicates are problems."""
    load = EntryLoad()
    if from_server_list:
        catalog = load_catalog(langgraph_conn_id, cache_path or default_cache_path(), refresh_s)
        if catalog.problem:
            load.problems.append(catalog.problem)
        for item in catalog.workflows:
            try:
                entry = from_server(item)
            except WorkflowEntryError as exc:
                load.problems.append(str(exc))
                continue
            if entry is not None:
                load.entries.append(entry)
    if config_path is not None:
        _config_entries(config_path, load)
    seen: dict[str, WorkflowEntry] = {}
    for entry in list(load.entries):
        if entry.id in seen:
            load.entries.remove(entry)
            load.problems.append(
                f"workflow {entry.id!r} ({entry.source}): id: already defined by {seen[entry.id].source}"
            )
        else:
            seen[entry.id] = entry
    return load


def _schedule(entry: WorkflowEntry) -> Any:
    assets = [Asset(uri) for uri in entry.assets]
    cron = CronTriggerTimetable(entry.cron, timezone=entry.timezone) if entry.cron else None
    if cron is not None and assets:
        return AssetOrTimeSchedule(timetable=cron, assets=assets)
    return cron or assets


def build_dag(
    entry: WorkflowEntry,
    *,
    langgraph_conn_id: str = LangGraphHook.default_conn_name,
    airflow_api_conn_id: str = AirflowAPIHook.default_conn_name,
    deferrable: bool = False,
    approval_timeout_s: float = 24 * 3600,
    dag_id_prefix: str = DAG_ID_PREFIX,
    strict_asset_events: bool = False,
) -> DAG:
    """The DAG of one entry; raises WorkflowEntryError (naming the entry) if Airflow refuses a part."""
    tags = ["tradeflow", f"workflow:{entry.workflow or entry.graph}"]
    if entry.spec_version is not None:
        tags.append(f"spec_version:{entry.spec_version}")
    defer = entry.deferrable if entry.deferrable is not None else deferrable
    target: dict[str, Any] = {"workflow": entry.workflow} if entry.workflow else {"graph_id": entry.graph}
    try:
        with DAG(
            dag_id=f"{dag_id_prefix}{entry.id}",
            description=entry.description or f"tradeflow workflow {entry.id}",
            schedule=_schedule(entry),
            start_date=START_DATE,
            catchup=False,
            tags=tags,
            default_args={"owner": entry.owner},
            render_template_as_native_obj=True,
            params={
                "label": Param(entry.label, type="string", description="label to resolve"),
                "version": Param(entry.version, type=["null", "integer"], description="pinned version (wins)"),
            },
            doc_md=f"Generated from workflow `{entry.id}` ({entry.source}); see docs/airflow.md.",
            # Collected through the DAG file's globals; auto-registering would also collect the DAGs the
            # check file builds only to validate them.
            auto_register=False,
        ) as dag:
            run = LangGraphRunOperator(
                task_id="run",
                **target,
                label="{{ params.label }}",
                version="{{ params.version }}",
                unit_key=entry.unit_key or "{{ run_id }}",
                input=entry.input,
                context=entry.context or None,
                langgraph_conn_id=langgraph_conn_id,
                post_asset_events=False,
                deferrable=defer,
                retries=entry.retries,
                retry_delay=timedelta(seconds=entry.retry_delay_s),
                execution_timeout=timedelta(seconds=entry.sla_s) if entry.sla_s else None,
            )
            finish = LangGraphThreadSensor(
                task_id="finish",
                thread_id="{{ ti.xcom_pull(task_ids='run', key='thread_id') }}",
                langgraph_conn_id=langgraph_conn_id,
                airflow_api_conn_id=airflow_api_conn_id,
                post_asset_events=True,
                strict_asset_events=strict_asset_events,
                outlets=[Asset(uri) for uri in entry.emits],
                deferrable=defer,
                poke_interval=1 if not defer else 5,
                timeout=approval_timeout_s,
                mode="reschedule" if not defer else "poke",
            )
            run >> finish
    except (ValueError, TypeError) as exc:
        raise WorkflowEntryError(f"workflow {entry.id!r} ({entry.source}): {exc}") from exc
    return dag


def workflow_dags(*, config_path: Path | None = None, **options: Any) -> dict[str, DAG]:
    """Every good entry's DAG by dag id, for ``globals().update(...)`` in a DAG file; never raises."""
    factory_keys = {
        "langgraph_conn_id", "airflow_api_conn_id", "deferrable", "approval_timeout_s", "dag_id_prefix",
        "strict_asset_events",
    }  # fmt: skip
    build_options = {k: v for k, v in options.items() if k in factory_keys}
    load_options = {k: v for k, v in options.items() if k not in factory_keys - {"langgraph_conn_id"}}
    load = load_entries(config_path=config_path, **load_options)
    dags: dict[str, DAG] = {}
    for entry in load.entries:
        try:
            dag = build_dag(entry, **build_options)
        except WorkflowEntryError as exc:
            logger.error("%s", exc)
            continue
        dags[dag.dag_id] = dag
    for problem in load.problems:
        logger.warning("skipped: %s", problem)
    return dags


def check_workflow_entries(*, config_path: Path | None = None, **options: Any) -> None:
    """Raise one WorkflowEntryError naming every bad entry (and an unreachable server), or return."""
    factory_keys = {"airflow_api_conn_id", "deferrable", "approval_timeout_s", "dag_id_prefix", "strict_asset_events"}
    load = load_entries(config_path=config_path, **{k: v for k, v in options.items() if k not in factory_keys})
    problems = list(load.problems)
    build_options = {k: v for k, v in options.items() if k in factory_keys | {"langgraph_conn_id"}}
    for entry in load.entries:
        try:
            build_dag(entry, **build_options)
        except WorkflowEntryError as exc:
            problems.append(str(exc))
    if problems:
        raise WorkflowEntryError(
            f"{len(problems)} tradeflow workflow problem(s); the other workflows' DAGs are loaded:\n- "
            + "\n- ".join(problems)
        )
