"""Graph callbacks, Prometheus metrics, run and usage rows in Postgres (see the analytics issue)."""
