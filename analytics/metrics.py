"""The Prometheus metrics tradeflow exports.

Names follow Prometheus conventions (base units, ``_total`` counters, histograms) and the OpenTelemetry
GenAI semantic conventions where they apply.

Labels are bounded: workflow, version, status, node, provider, model, backend, strategy, error class and
token type. No run ids, users or prompts.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576)


class Metrics:
    """Every tradeflow metric, registered on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.workflow_runs = Counter(
            "tradeflow_workflow_runs", "Workflow runs by outcome.", ["workflow", "version", "status"],
            registry=registry,
        )  # fmt: skip
        self.workflow_duration = Histogram(
            "tradeflow_workflow_duration_seconds", "Wall time of a workflow run.", ["workflow", "version"],
            buckets=DURATION_BUCKETS, registry=registry,
        )  # fmt: skip
        self.node_duration = Histogram(
            "tradeflow_node_duration_seconds", "Wall time of one node run.", ["workflow", "node"],
            buckets=DURATION_BUCKETS, registry=registry,
        )  # fmt: skip
        self.token_usage = Histogram(
            "gen_ai_client_token_usage", "Tokens per model call (OTel gen_ai.client.token.usage).",
            ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_token_type"],
            buckets=TOKEN_BUCKETS, registry=registry,
        )  # fmt: skip
        self.operation_duration = Histogram(
            "gen_ai_client_operation_duration_seconds",
            "Duration of a model call (OTel gen_ai.client.operation.duration).",
            ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"],
            buckets=DURATION_BUCKETS, registry=registry,
        )  # fmt: skip
        self.llm_cost = Counter(
            "tradeflow_llm_cost_usd", "Model spend in US dollars.", ["provider", "model", "workflow"],
            registry=registry,
        )  # fmt: skip
        self.router_decisions = Counter(
            "tradeflow_router_decisions", "Routed calls by strategy, answering backend and outcome.",
            ["workflow", "strategy", "backend", "outcome"], registry=registry,
        )  # fmt: skip
        self.router_attempts = Counter(
            "tradeflow_router_attempts", "Attempts on each backend by outcome and error class.",
            ["backend", "outcome", "error_class"], registry=registry,
        )  # fmt: skip
        self.router_fallbacks = Counter(
            "tradeflow_router_fallbacks", "Fallbacks away from a backend, by the error that caused them.",
            ["from_backend", "error_class"], registry=registry,
        )  # fmt: skip
        self.rows_dropped = Counter(
            "tradeflow_analytics_rows_dropped",
            "Analytics rows lost, by reason: queue_full, spill_full, quarantine_unwritable, unreadable_spill.",
            ["table", "reason"], registry=registry,
        )  # fmt: skip
        self.rows_quarantined = Counter(
            "tradeflow_analytics_rows_quarantined",
            "Analytics rows the store refused, kept in the quarantine folder with the reason (the error class).",
            ["table", "reason"], registry=registry,
        )  # fmt: skip
        self.rows_spilled = Counter(
            "tradeflow_analytics_rows_spilled", "Analytics rows written to the spill file while the store was down.",
            registry=registry,
        )  # fmt: skip
        self.rows_written = Counter(
            "tradeflow_analytics_rows_written", "Analytics rows written to the store.", ["table"], registry=registry
        )
