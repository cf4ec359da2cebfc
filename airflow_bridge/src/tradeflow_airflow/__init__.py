"""tradeflow's Airflow provider: hook, operators, trigger, sensor and DAG factory (HTTP through langgraph-sdk)."""

__version__ = "0.1.0"
