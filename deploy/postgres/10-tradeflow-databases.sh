#!/usr/bin/env bash
# Runs once, when the postgres service initialises an empty data volume (/docker-entrypoint-initdb.d), as the
# image's superuser. One database per owner of tables, each reachable only by its own role:
#   tradeflow  tradeflow's tables (analytics rows, router spend, versioning labels and audit, API keys, checkpoints
#              under langgraph dev), owned by the tradeflow role; TimescaleDB enabled when the image has it
#   langgraph  the server's own tables (Aegra's or langgraph-api's threads, runs, checkpoints), same role
#   airflow    Airflow's metadata database and Celery results, owned by the airflow role
# grafana_reader may connect to tradeflow's database only, and read its tables (Grafana's Postgres data source).
# Names can be changed with the *_DB / *_ROLE variables below (the tests run this script with scratch names).
set -euo pipefail

: "${TRADEFLOW_DB_PASSWORD:?set TRADEFLOW_DB_PASSWORD}"
: "${AIRFLOW_DB_PASSWORD:?set AIRFLOW_DB_PASSWORD}"
: "${GRAFANA_DB_PASSWORD:?set GRAFANA_DB_PASSWORD}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  -v tradeflow_db="${TRADEFLOW_DB:-tradeflow}" \
  -v server_db="${SERVER_DB:-langgraph}" \
  -v airflow_db="${AIRFLOW_DB:-airflow}" \
  -v tradeflow_role="${TRADEFLOW_DB_ROLE:-tradeflow}" \
  -v airflow_role="${AIRFLOW_DB_ROLE:-airflow}" \
  -v grafana_role="${GRAFANA_DB_ROLE:-grafana_reader}" \
  -v pw_tf="$TRADEFLOW_DB_PASSWORD" \
  -v pw_af="$AIRFLOW_DB_PASSWORD" \
  -v pw_gr="$GRAFANA_DB_PASSWORD" <<'SQL'
CREATE ROLE :"tradeflow_role" LOGIN PASSWORD :'pw_tf';
CREATE ROLE :"airflow_role" LOGIN PASSWORD :'pw_af';
CREATE ROLE :"grafana_role" LOGIN PASSWORD :'pw_gr';

CREATE DATABASE :"tradeflow_db" OWNER :"tradeflow_role";
CREATE DATABASE :"server_db" OWNER :"tradeflow_role";
CREATE DATABASE :"airflow_db" OWNER :"airflow_role";
REVOKE ALL ON DATABASE :"tradeflow_db" FROM PUBLIC;
REVOKE ALL ON DATABASE :"server_db" FROM PUBLIC;
REVOKE ALL ON DATABASE :"airflow_db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"tradeflow_db" TO :"grafana_role";

\connect :"tradeflow_db"
-- analytics/store.py makes hypertables when the extension exists; creating it needs a superuser, so it is done here.
SELECT count(*) > 0 AS has_timescale FROM pg_available_extensions WHERE name = 'timescaledb' \gset
\if :has_timescale
CREATE EXTENSION IF NOT EXISTS timescaledb;
\endif
GRANT USAGE ON SCHEMA public TO :"grafana_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"tradeflow_role" IN SCHEMA public GRANT SELECT ON TABLES TO :"grafana_role";
SQL
