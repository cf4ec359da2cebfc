"""``LangGraphRunOperator``: run a graph, an assistant or a versioned workflow on the tradeflow server.

One task = one server run on a thread (new, or the ``thread_id`` given). The task waits (in the worker,
or in the triggerer with ``deferrable=True``), pushes the result to XCom and ends:

* success: ``return_value`` is the run's final values (for ``workflow=``, the workflow's ``output``);
  XCom ``thread_id``, ``run_id`` and, for ``workflow=``, ``workflow_version`` (the resolved version,
  spec sha, label, experiment and arm). Asset events the run asked for (``airflow_asset_events``) are
  posted through Airflow's REST API.
* interrupt (a human approval step): the task ends as ``on_interrupt`` says, default ``"succeed"``:
  ``return_value`` is ``{"status": "interrupted", "thread_id", "run_id", "interrupts"}``; a
  ``LangGraphThreadSensor`` downstream waits for the approval.
* failure: :class:`~tradeflow_airflow.errors.ServerRunError` with the server's error class and message.

Every run carries Airflow's identifiers as metadata (``airflow_dag_id``, ``airflow_run_id``,
``airflow_task_id``, ``airflow_try_number``, ``airflow_dag_version``), on the run and on the thread.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException
from langgraph_sdk.errors import APIStatusError
from langgraph_sdk.schema import Config

from tradeflow_airflow.completion import link_spec_version, mark_outlets, post_asset_events
from tradeflow_airflow.errors import RunCancelledError, ServerRunError, TradeflowAirflowError
from tradeflow_airflow.hooks.airflow_api import AirflowAPIHook
from tradeflow_airflow.hooks.langgraph import LangGraphHook
from tradeflow_airflow.runs import VERSIONED_GRAPH, RunOutcome, versioned_input, wait_for_run
from tradeflow_airflow.triggers.run import LangGraphRunTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

logger = logging.getLogger(__name__)

OnInterrupt = Literal["succeed", "skip", "fail"]


def airflow_metadata(context: Context) -> dict[str, Any]:
    """Airflow's identifiers of this task try, as run metadata the server keeps (both ways findable)."""
    ti = context["ti"]
    metadata: dict[str, Any] = {
        "airflow_dag_id": ti.dag_id,
        "airflow_run_id": ti.run_id,
        "airflow_task_id": ti.task_id,
        "airflow_try_number": ti.try_number,
    }
    dag_version_id = getattr(ti, "dag_version_id", None)
    if dag_version_id is not None:
        metadata["airflow_dag_version"] = str(dag_version_id)
    if ti.map_index is not None and ti.map_index >= 0:
        metadata["airflow_map_index"] = ti.map_index
    return metadata


def server_detail(exc: APIStatusError) -> str:
    """The server's own words for a refused request (``detail`` or ``error`` of its JSON body)."""
    try:
        body = exc.response.json()
    except ValueError:
        return exc.response.text[:500]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("error") or body)
    return str(body)


class LangGraphRunOperator(BaseOperator):
    """Run a served graph (``graph_id``/``assistant_id``) or a versioned workflow (``workflow``) and wait.

    Args:
        graph_id: a served graph (or assistant id); exclusive with ``workflow``.
        workflow: a workflow id; runs the served ``versioned_workflow`` graph, which resolves ``version``
            (a pin) or ``label`` (default ``production``; an A/B arm is picked from ``unit_key``).
        label: the label to resolve (templated).
        version: a pinned version; wins over ``label`` (templated).
        unit_key: the A/B unit (sticky arm); default: the Airflow run id (templated).
        input: the run's input (templated).
        config: the run's config (templated).
        context: the run's context (templated).
        thread_id: an existing or chosen thread id to run on (templated); default: a new thread.
        metadata: extra run metadata, merged with Airflow's identifiers (templated).
        langgraph_conn_id: the ``langgraph`` connection.
        airflow_api_conn_id: the connection used to post asset events through Airflow's REST API.
        on_interrupt: what an interrupted run does to the task: ``succeed`` (default), ``skip`` or ``fail``.
        post_asset_events: post the run's ``airflow_asset_events`` after success (off where a later task,
            such as the approval sensor of a generated DAG, ends the workflow).
        strict_asset_events: fail the task when Airflow does not record one of those events (default: a
            warning and XCom ``asset_event_failures``; the run succeeded).
        deferrable: wait in the triggerer instead of the worker.
    """

    template_fields: Sequence[str] = (
        "graph_id", "workflow", "workflow_label", "version", "unit_key",
        "input", "config", "context", "thread_id", "metadata",
    )  # fmt: skip
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "input": "json", "config": "json", "context": "json", "metadata": "json"
    }  # fmt: skip
    ui_color = "#e7f0fe"

    def __init__(
        self,
        *,
        graph_id: str | None = None,
        assistant_id: str | None = None,
        workflow: str | None = None,
        label: str | None = None,
        version: int | str | None = None,
        unit_key: str | None = "{{ run_id }}",
        input: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        thread_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        langgraph_conn_id: str = LangGraphHook.default_conn_name,
        airflow_api_conn_id: str = AirflowAPIHook.default_conn_name,
        on_interrupt: OnInterrupt = "succeed",
        post_asset_events: bool = True,
        strict_asset_events: bool = False,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        chosen = [
            name
            for name, value in (("graph_id", graph_id), ("assistant_id", assistant_id), ("workflow", workflow))
            if value
        ]
        if len(chosen) != 1:
            raise ValueError(
                f"{self.task_id}: give exactly one of graph_id, assistant_id or workflow (got {chosen or 'none'})"
            )
        if on_interrupt not in ("succeed", "skip", "fail"):
            raise ValueError(f"{self.task_id}: on_interrupt must be succeed, skip or fail, got {on_interrupt!r}")
        self.graph_id = graph_id or assistant_id
        self.workflow = workflow
        self.workflow_label = label
        self.version = version
        self.unit_key = unit_key
        self.input = dict(input or {})
        self.config: Config | None = cast(Config, dict(config)) if config else None
        self.context = dict(context) if context else None
        self.thread_id = thread_id
        self.metadata = dict(metadata or {})
        self.langgraph_conn_id = langgraph_conn_id
        self.airflow_api_conn_id = airflow_api_conn_id
        self.on_interrupt = on_interrupt
        self.post_asset_events = post_asset_events
        self.strict_asset_events = strict_asset_events
        self.deferrable = deferrable
        self._running: tuple[str, str] | None = None

    # --- start -----------------------------------------------------------------------------------
    def _assistant_and_input(self) -> tuple[str, dict[str, Any]]:
        if self.workflow is None:
            assert self.graph_id is not None
            return self.graph_id, self.input
        version: int | None = None
        if self.version not in (None, "", "None"):
            try:
                version = int(self.version)
            except (TypeError, ValueError):
                raise TradeflowAirflowError(
                    f"{self.task_id}: version must be an integer, got {self.version!r}"
                ) from None
        return VERSIONED_GRAPH, versioned_input(self.workflow, self.workflow_label, version, self.unit_key, self.input)

    def start_run(self, context: Context) -> tuple[str, str]:
        """Create (or reuse) the thread, start the run; returns ``(thread_id, run_id)``."""
        assistant, payload = self._assistant_and_input()
        metadata = {**self.metadata, **airflow_metadata(context)}
        try:
            with LangGraphHook(self.langgraph_conn_id).get_sync_client() as client:
                if self.thread_id:
                    thread = client.threads.create(thread_id=self.thread_id, if_exists="do_nothing", metadata=metadata)
                else:
                    thread = client.threads.create(metadata=metadata)
                run = client.runs.create(
                    thread["thread_id"],
                    assistant,
                    input=payload,
                    config=self.config,
                    context=self.context,
                    metadata=metadata,
                )
        except APIStatusError as exc:
            raise TradeflowAirflowError(
                f"{self.task_id}: the server refused the run of {assistant} (connection {self.langgraph_conn_id!r}): "
                f"HTTP {exc.response.status_code}: {server_detail(exc)}"
            ) from None
        self._running = (str(thread["thread_id"]), str(run["run_id"]))
        logger.info("started run %s of %s on thread %s", run["run_id"], assistant, thread["thread_id"])
        return self._running

    # --- execute ---------------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        """Start the run, then wait here (sync) or hand the waiting to the triggerer (deferrable)."""
        thread_id, run_id = self.start_run(context)
        context["ti"].xcom_push(key="thread_id", value=thread_id)
        context["ti"].xcom_push(key="run_id", value=run_id)
        if self.deferrable:
            self.defer(
                trigger=LangGraphRunTrigger(thread_id, run_id, self.langgraph_conn_id),
                method_name="execute_complete",
                timeout=self.execution_timeout,
            )
        with LangGraphHook(self.langgraph_conn_id).get_sync_client() as client:
            outcome = wait_for_run(client, thread_id, run_id)
        self._running = None
        return self.finish(outcome, context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: its event is the whole outcome."""
        if not event or "status" not in event:
            raise TradeflowAirflowError(f"{self.task_id}: the trigger fired without an outcome: {event!r}")
        return self.finish(RunOutcome(**event), context)  # type: ignore[typeddict-item]

    def finish(self, outcome: RunOutcome, context: Context) -> Any:
        """Turn an outcome into the task's result, XComs and side effects, or a clear failure."""
        status = outcome["status"]
        if status == "error":
            raise ServerRunError(
                outcome["error_class"] or "RunError",
                outcome["message"] or "",
                thread_id=outcome["thread_id"],
                run_id=outcome["run_id"],
            )
        if status == "cancelled":
            raise RunCancelledError(
                f"{self.task_id}: run {outcome['run_id']} on thread {outcome['thread_id']} was cancelled"
            )
        if self.workflow:  # an interrupted run resolved its version too (checkpointed before the approval)
            link_spec_version(self.langgraph_conn_id, outcome, context)
        if status == "interrupted":
            return self._interrupted(outcome)
        values = outcome["values"] or {}
        mark_outlets(self, context, outcome)
        if self.post_asset_events:
            post_asset_events(self.airflow_api_conn_id, outcome, context, strict=self.strict_asset_events)
        return values.get("output") if self.workflow else values

    def _interrupted(self, outcome: RunOutcome) -> dict[str, Any]:
        result = {
            "status": "interrupted",
            "thread_id": outcome["thread_id"],
            "run_id": outcome["run_id"],
            "interrupts": outcome["interrupts"],
        }
        message = (
            f"{self.task_id}: the run stopped for approval on thread {outcome['thread_id']}; resume the thread "
            "(Command(resume=...)) and a LangGraphThreadSensor on that thread id waits for the rest"
        )
        if self.on_interrupt == "fail":
            raise TradeflowAirflowError(message)
        logger.warning("%s", message)
        if self.on_interrupt == "skip":
            raise AirflowSkipException(message)
        return result

    # --- kill ------------------------------------------------------------------------------------
    def on_kill(self) -> None:
        """Cancel the run on the server when Airflow kills this task (timeout, mark failed, SIGTERM)."""
        if self._running is None:
            return
        thread_id, run_id = self._running
        with LangGraphHook(self.langgraph_conn_id).get_sync_client() as client:
            client.runs.cancel(thread_id, run_id)
        logger.warning("cancelled run %s on thread %s", run_id, thread_id)
        self._running = None


__all__ = ["LangGraphRunOperator", "airflow_metadata"]
