CREATE MATERIALIZED VIEW IF NOT EXISTS llm_cost_hourly WITH (timescaledb.continuous) AS
SELECT time_bucket(INTERVAL '1 hour', ts) AS hour, workflow, provider, model,
       count(*) AS calls, count(*) FILTER (WHERE status <> 'success') AS failed_calls,
       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd
FROM llm_calls GROUP BY 1, 2, 3, 4 WITH NO DATA;
SELECT add_continuous_aggregate_policy('llm_cost_hourly', start_offset => INTERVAL '3 days',
       end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute', if_not_exists => TRUE);
CREATE MATERIALIZED VIEW IF NOT EXISTS workflow_runs_hourly WITH (timescaledb.continuous) AS
SELECT time_bucket(INTERVAL '1 hour', ts) AS hour, workflow, version, count(*) AS runs,
       count(*) FILTER (WHERE status = 'success') AS successes, sum(duration_s) AS duration_sum
FROM workflow_runs GROUP BY 1, 2, 3 WITH NO DATA;
SELECT add_continuous_aggregate_policy('workflow_runs_hourly', start_offset => INTERVAL '3 days',
       end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute', if_not_exists => TRUE);
