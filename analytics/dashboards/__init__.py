"""Grafana dashboards as code (build.py) and the JSON it writes."""
