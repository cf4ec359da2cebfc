"""Triggers: wait on the server from Airflow's triggerer, without holding a worker slot."""
