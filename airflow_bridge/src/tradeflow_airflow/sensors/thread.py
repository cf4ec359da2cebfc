"""``LangGraphThreadSensor``: waits until an interrupted thread is resumed and its run has ended.

Pair it with a :class:`~tradeflow_airflow.operators.run.LangGraphRunOperator` whose run stops at an
approval step: pass that task's ``thread_id`` XCom. The sensor succeeds with the run's final values as
``return_value`` once the workflow finished, and fails with the server's error class and message if the
resumed run failed. ``deferrable=True`` waits in the triggerer (no worker slot held while a human decides).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from tradeflow_airflow.completion import mark_outlets, post_asset_events
from tradeflow_airflow.errors import RunCancelledError, ServerRunError, TradeflowAirflowError
from tradeflow_airflow.hooks.airflow_api import AirflowAPIHook
from tradeflow_airflow.hooks.langgraph import LangGraphHook
from tradeflow_airflow.runs import RunOutcome, classify
from tradeflow_airflow.triggers.run import LangGraphThreadTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


def _check(outcome: RunOutcome) -> None:
    if outcome["status"] == "error":
        raise ServerRunError(
            outcome["error_class"] or "RunError",
            outcome["message"] or "",
            thread_id=outcome["thread_id"],
            run_id=outcome["run_id"],
        )
    if outcome["status"] == "cancelled":
        raise RunCancelledError(f"run {outcome['run_id']} on thread {outcome['thread_id']} was cancelled")


class LangGraphThreadSensor(BaseSensorOperator):
    """Wait for a thread's approval and the run that follows it.

    Args:
        thread_id: the interrupted thread (templated; usually ``{{ ti.xcom_pull(task_ids='...', key='thread_id') }}``).
        langgraph_conn_id: the ``langgraph`` connection.
        airflow_api_conn_id: the connection used to post asset events through Airflow's REST API.
        post_asset_events: post the finished run's ``airflow_asset_events`` (on in generated DAGs, where
            this sensor is the task that ends the workflow; off by default so that an operator and a
            sensor on one thread do not post twice).
        strict_asset_events: fail the task when Airflow does not record one of those events (default: a
            warning and XCom ``asset_event_failures``; the run succeeded).
        deferrable: wait in the triggerer.
    """

    template_fields = ("thread_id",)

    def __init__(
        self,
        *,
        thread_id: str,
        langgraph_conn_id: str = LangGraphHook.default_conn_name,
        airflow_api_conn_id: str = AirflowAPIHook.default_conn_name,
        post_asset_events: bool = False,
        strict_asset_events: bool = False,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.thread_id = thread_id
        self.langgraph_conn_id = langgraph_conn_id
        self.airflow_api_conn_id = airflow_api_conn_id
        self.post_asset_events = post_asset_events
        self.strict_asset_events = strict_asset_events
        self.deferrable = deferrable

    def execute(self, context: Context) -> Any:
        """Poke in the worker, or defer the whole wait to the triggerer."""
        if not self.deferrable:
            return super().execute(context)
        self.defer(
            trigger=LangGraphThreadTrigger(self.thread_id, self.langgraph_conn_id, self.poke_interval),
            method_name="execute_complete",
            timeout=self.timeout,
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """Done when the thread is idle or in error (a new interrupt keeps it waiting)."""
        with LangGraphHook(self.langgraph_conn_id).get_sync_client() as client:
            thread = client.threads.get(self.thread_id)
            status = str(thread["status"])
            if status in ("interrupted", "busy"):
                self.log.info("thread %s is %s; waiting", self.thread_id, status)
                return False
            runs = client.runs.list(self.thread_id, limit=1)
            if runs and runs[0]["status"] in ("pending", "running"):
                return False
            if runs:
                run_id = str(runs[0]["run_id"])
                outcome = classify(
                    self.thread_id, run_id, str(runs[0]["status"]), client.runs.join(self.thread_id, run_id)
                )
            else:
                outcome = classify(self.thread_id, None, status, thread.get("values") or {})
        return PokeReturnValue(is_done=True, xcom_value=self._finish(outcome, context))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """The trigger's event is the outcome of the thread's last run."""
        if not event or "status" not in event:
            raise TradeflowAirflowError(f"{self.task_id}: the trigger fired without an outcome: {event!r}")
        return self._finish(RunOutcome(**event), context)  # type: ignore[typeddict-item]

    def _finish(self, outcome: RunOutcome, context: Context) -> dict[str, Any]:
        _check(outcome)
        mark_outlets(self, context, outcome)
        if self.post_asset_events:
            post_asset_events(self.airflow_api_conn_id, outcome, context, strict=self.strict_asset_events)
        return outcome["values"] or {}
