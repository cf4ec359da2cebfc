"""Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    """Describe the provider: its package, connection type, hook, operators, triggers and sensors."""
    return {
        "package-name": "tradeflow-airflow",
        "name": "tradeflow",
        "description": "Run tradeflow's LangGraph workflows on the tradeflow server through langgraph-sdk.",
        "integrations": [
            {"integration-name": "tradeflow", "external-doc-url": "https://langchain-ai.github.io/langgraph/"}
        ],
        "connection-types": [
            {
                "connection-type": "langgraph",
                "hook-class-name": "tradeflow_airflow.hooks.langgraph.LangGraphHook",
                "hook-name": "LangGraph server (tradeflow)",
            }
        ],
        "hooks": [{"integration-name": "tradeflow", "python-modules": ["tradeflow_airflow.hooks.langgraph"]}],
        "operators": [
            {
                "integration-name": "tradeflow",
                "python-modules": ["tradeflow_airflow.operators.run", "tradeflow_airflow.operators.routed_llm"],
            }
        ],
        "sensors": [{"integration-name": "tradeflow", "python-modules": ["tradeflow_airflow.sensors.thread"]}],
        "triggers": [{"integration-name": "tradeflow", "python-modules": ["tradeflow_airflow.triggers.run"]}],
    }
