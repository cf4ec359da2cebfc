"""``RoutedLLMOperator``: one model call routed by the server's ``llm_router`` graph (cost, speed, health).

``return_value`` is ``{"answer", "answered_by", "answered_model"}``; XCom ``decision`` holds the router's
decision record (candidates, scores, every attempt and its cost), ``attempts`` the attempts alone. A call
that no backend could answer fails the task with the router's error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradeflow_airflow.errors import ServerRunError
from tradeflow_airflow.operators.run import LangGraphRunOperator
from tradeflow_airflow.runs import RunOutcome

if TYPE_CHECKING:
    from airflow.sdk import Context

ROUTER_GRAPH = "llm_router"


class RoutedLLMOperator(LangGraphRunOperator):
    """Send one prompt through the ``llm_router`` graph.

    Args:
        prompt: the user prompt (templated).
        system: an optional system prompt (templated).
        strategy: ``cost``, ``performance`` or ``balanced`` (the server's default when None).
        task_type: summary, classification, extraction, explanation or chat.
        max_tokens: cap on the answer's tokens.
        max_cost_usd: refuse backends that would cost more.
        latency_budget_s: the latency the caller can afford.
        required_capabilities: e.g. ``["json"]``.
        workflow_name: the name the call is accounted under in analytics (default: the DAG id).
        **kwargs: as for :class:`LangGraphRunOperator` (connection, deferrable, ...).
    """

    template_fields = (*LangGraphRunOperator.template_fields, "prompt", "system", "workflow_name")

    def __init__(
        self,
        *,
        prompt: str,
        system: str | None = None,
        strategy: str | None = None,
        task_type: str | None = None,
        max_tokens: int | None = None,
        max_cost_usd: float | None = None,
        latency_budget_s: float | None = None,
        required_capabilities: list[str] | None = None,
        workflow_name: str | None = "{{ dag.dag_id }}",
        **kwargs: Any,
    ) -> None:
        super().__init__(graph_id=ROUTER_GRAPH, **kwargs)
        self.prompt = prompt
        self.system = system
        self.router_fields: dict[str, Any] = {
            "strategy": strategy,
            "task_type": task_type,
            "max_tokens": max_tokens,
            "max_cost_usd": max_cost_usd,
            "latency_budget_s": latency_budget_s,
            "required_capabilities": required_capabilities,
        }
        self.workflow_name = workflow_name

    def execute(self, context: Context) -> Any:
        """Build the router's input from the rendered fields, then run like any graph."""
        fields = {"prompt": self.prompt, "system": self.system, **self.router_fields, "workflow": self.workflow_name}
        self.input = {key: value for key, value in fields.items() if value not in (None, "")}
        return super().execute(context)

    def finish(self, outcome: RunOutcome, context: Context) -> Any:
        """The answer to ``return_value``, the decision record to XCom; no answer fails the task."""
        if outcome["status"] != "success":
            return super().finish(outcome, context)
        values = outcome["values"] or {}
        ti = context["ti"]
        if "decision" in values:
            ti.xcom_push(key="decision", value=values["decision"])
        ti.xcom_push(key="attempts", value=values.get("attempts", []))
        if not values.get("answer"):
            raise ServerRunError(
                "RouterError",
                str(values.get("error") or "no backend answered"),
                thread_id=outcome["thread_id"],
                run_id=outcome["run_id"],
            )
        return {key: values.get(key) for key in ("answer", "answered_by", "answered_model")}
