"""Hooks: the LangGraph server (``langgraph`` connections) and Airflow's own REST API."""
