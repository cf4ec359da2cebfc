"""Grafana dashboards as code: ``python -m analytics.dashboards.build`` writes the JSON next to this file.

Prometheus panels read tradeflow's metrics and recording rules; SQL panels read the analytics tables and
use only the ``$__timeFrom()`` / ``$__timeTo()`` macros (the tests substitute them and run every query).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

HERE = Path(__file__).parent
PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
POSTGRES = {"type": "grafana-postgresql-datasource", "uid": "postgres"}


@dataclass(frozen=True)
class Panel:
    """One panel: a PromQL expression or an SQL query."""

    title: str
    query: str
    source: Literal["prometheus", "postgres"]
    kind: Literal["timeseries", "table", "stat"] = "timeseries"
    unit: str = "short"


# Runs per workflow version and experiment arm (shadow runs have arm 'shadow'); interrupted runs are still open.
VERSIONS_SQL = (
    "SELECT workflow, version, COALESCE(experiment, '-') AS experiment, COALESCE(arm, '-') AS arm, count(*) AS runs, "
    "avg(CASE WHEN status = 'success' THEN 1.0 ELSE 0.0 END) AS success_ratio, "
    "percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_s) AS p95_s, max(ts) AS last_run FROM workflow_runs "
    "WHERE ts >= $__timeFrom() AND ts < $__timeTo() AND status <> 'interrupted' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
)

DASHBOARDS: dict[str, tuple[str, list[Panel]]] = {
    "tradeflow-overview": ("tradeflow · Overview", [
        Panel("Runs per second by workflow", 'sum by (workflow) (rate(tradeflow_workflow_runs_total[5m]))',
              "prometheus", unit="ops"),
        Panel("Success rate by workflow", "tradeflow:workflow_success_ratio:rate5m", "prometheus",
              unit="percentunit"),
        Panel("p95 run duration by workflow", "tradeflow:workflow_duration_seconds:p95_5m", "prometheus", unit="s"),
        Panel("p95 node duration", "histogram_quantile(0.95, sum by (workflow, node, le) "
              "(rate(tradeflow_node_duration_seconds_bucket[5m])))", "prometheus", unit="s"),
        Panel("Runs by status (period)", "SELECT workflow, status, count(*) AS runs FROM workflow_runs "
              "WHERE ts >= $__timeFrom() AND ts < $__timeTo() GROUP BY 1, 2 ORDER BY 1, 2", "postgres", "table"),
    ]),
    "tradeflow-cost": ("tradeflow · Cost", [
        Panel("Spend per hour by model (USD)", "sum by (model) (rate(tradeflow_llm_cost_usd_total[1h])) * 3600",
              "prometheus", unit="currencyUSD"),
        Panel("Tokens per second by model and type", "sum by (gen_ai_request_model, gen_ai_token_type) "
              "(rate(gen_ai_client_token_usage_sum[5m]))", "prometheus"),
        Panel("Cost per day by workflow", "SELECT date_trunc('day', hour) AS time, workflow, sum(cost_usd) AS cost_usd "
              "FROM llm_cost_hourly WHERE hour >= $__timeFrom() AND hour < $__timeTo() GROUP BY 1, 2 ORDER BY 1",
              "postgres", unit="currencyUSD"),
        Panel("Cost by model and provider", "SELECT model, provider, count(*) AS calls, sum(cost_usd) AS cost_usd "
              "FROM llm_calls WHERE ts >= $__timeFrom() AND ts < $__timeTo() GROUP BY 1, 2 ORDER BY 4 DESC",
              "postgres", "table", "currencyUSD"),
        Panel("Cost provenance", "SELECT token_source, cost_source, count(*) AS calls, sum(cost_usd) AS cost_usd "
              "FROM llm_calls WHERE ts >= $__timeFrom() AND ts < $__timeTo() GROUP BY 1, 2 ORDER BY 3 DESC",
              "postgres", "table"),
    ]),
    "tradeflow-routing": ("tradeflow · Routing", [
        Panel("Decisions by answering backend", "sum by (backend) (rate(tradeflow_router_decisions_total[5m]))",
              "prometheus", unit="ops"),
        Panel("Fallbacks by cause", "sum by (from_backend, error_class) (rate(tradeflow_router_fallbacks_total[5m]))",
              "prometheus", unit="ops"),
        Panel("Attempts by outcome", "sum by (backend, outcome) (rate(tradeflow_router_attempts_total[5m]))",
              "prometheus", unit="ops"),
        Panel("Circuit breaker state (0 closed, 1 half-open, 2 open)",
              "max by (backend) (tradeflow_router_breaker_state)", "prometheus", "stat"),
        Panel("Decisions per hour by backend", "SELECT date_trunc('hour', ts) AS time, answered_by, count(*) AS "
              "decisions FROM routing_decisions WHERE ts >= $__timeFrom() AND ts < $__timeTo() GROUP BY 1, 2 "
              "ORDER BY 1", "postgres"),
        Panel("Failed attempts by error class", "SELECT backend, error_class, count(*) AS attempts FROM llm_calls "
              "WHERE status = 'failed' AND ts >= $__timeFrom() AND ts < $__timeTo() GROUP BY 1, 2 ORDER BY 3 DESC",
              "postgres", "table"),
    ]),
    "tradeflow-versions": ("tradeflow · Workflow versions", [
        Panel("Runs per second by version", "sum by (workflow, version) (rate(tradeflow_workflow_runs_total[5m]))",
              "prometheus", unit="ops"),
        Panel("Success ratio by version", "SELECT workflow, version, sum(runs) AS runs, sum(successes)::float / "
              "nullif(sum(runs), 0) AS success_ratio FROM workflow_runs_hourly WHERE hour >= $__timeFrom() AND "
              "hour < $__timeTo() GROUP BY 1, 2 ORDER BY 1, 2", "postgres", "table"),
        Panel("p50 / p95 duration by version", "SELECT workflow, version, percentile_cont(0.5) WITHIN GROUP "
              "(ORDER BY duration_s) AS p50_s, percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_s) AS p95_s "
              "FROM workflow_runs WHERE ts >= $__timeFrom() AND ts < $__timeTo() GROUP BY 1, 2 ORDER BY 1, 2",
              "postgres", "table", "s"),
        Panel("Workflow versions", VERSIONS_SQL, "postgres", "table"),
    ]),
}  # fmt: skip


def _panel(panel_id: int, panel: Panel) -> dict[str, Any]:
    target: dict[str, Any]
    if panel.source == "prometheus":
        target = {"refId": "A", "expr": panel.query, "datasource": PROMETHEUS}
    else:
        fmt = "table" if panel.kind == "table" else "time_series"
        target = {"refId": "A", "rawSql": panel.query, "format": fmt, "rawQuery": True, "editorMode": "code",
                  "datasource": POSTGRES}  # fmt: skip
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "datasource": PROMETHEUS if panel.source == "prometheus" else POSTGRES,
        "targets": [target],
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "gridPos": {"h": 8, "w": 12, "x": 12 * ((panel_id - 1) % 2), "y": 8 * ((panel_id - 1) // 2)},
    }


def dashboard(uid: str) -> dict[str, Any]:
    """The Grafana JSON model of one dashboard."""
    title, panels = DASHBOARDS[uid]
    return {
        "uid": uid,
        "title": title,
        "tags": ["tradeflow"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-7d", "to": "now"},
        "refresh": "30s",
        "panels": [_panel(i, p) for i, p in enumerate(panels, start=1)],
    }


def render_all() -> dict[str, str]:
    """File name -> JSON text for every dashboard."""
    return {f"{uid}.json": json.dumps(dashboard(uid), indent=2) + "\n" for uid in DASHBOARDS}


def main() -> None:
    """Write every dashboard's JSON next to this module."""
    for name, text in render_all().items():
        (HERE / name).write_text(text)


if __name__ == "__main__":
    main()
