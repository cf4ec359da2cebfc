-- tradeflow analytics on TimescaleDB (used automatically when the extension is available):
-- the same columns as the plain-Postgres schema, as hypertables, with continuous aggregates as rollups.
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE IF NOT EXISTS workflow_runs (
    ts timestamptz NOT NULL, run_id text NOT NULL, thread_id text, workflow text NOT NULL, version text NOT NULL,
    status text NOT NULL, duration_s double precision NOT NULL, error_type text
);
SELECT create_hypertable('workflow_runs', 'ts', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE);
CREATE TABLE IF NOT EXISTS node_runs (
    ts timestamptz NOT NULL, run_id text NOT NULL, workflow text NOT NULL, node text NOT NULL, status text NOT NULL,
    duration_s double precision NOT NULL
);
SELECT create_hypertable('node_runs', 'ts', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE);
CREATE TABLE IF NOT EXISTS llm_calls (
    ts timestamptz NOT NULL, run_id text, decision_id text, workflow text NOT NULL, provider text NOT NULL,
    model text NOT NULL, backend text, status text NOT NULL, error_class text, attempt integer NOT NULL,
    fallback_of text, input_tokens integer NOT NULL, output_tokens integer NOT NULL, cached_tokens integer NOT NULL,
    token_source text NOT NULL, cost_usd double precision NOT NULL, cost_source text NOT NULL,
    latency_s double precision NOT NULL, ttft_s double precision
);
SELECT create_hypertable('llm_calls', 'ts', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE);
CREATE TABLE IF NOT EXISTS routing_decisions (
    ts timestamptz NOT NULL, decision_id text NOT NULL, workflow text NOT NULL, strategy text NOT NULL, choice text,
    answered_by text, outcome text NOT NULL, attempts integer NOT NULL, fallbacks integer NOT NULL,
    candidates integer NOT NULL, excluded integer NOT NULL, estimated_cost_usd double precision,
    actual_cost_usd double precision NOT NULL, total_latency_s double precision NOT NULL
);
SELECT create_hypertable('routing_decisions', 'ts', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE);
