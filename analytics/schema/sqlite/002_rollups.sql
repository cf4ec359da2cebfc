CREATE TABLE IF NOT EXISTS llm_cost_hourly (
    hour TEXT NOT NULL, workflow TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, calls INTEGER NOT NULL,
    failed_calls INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL, PRIMARY KEY (hour, workflow, provider, model)
);
CREATE TABLE IF NOT EXISTS workflow_runs_hourly (
    hour TEXT NOT NULL, workflow TEXT NOT NULL, version TEXT NOT NULL, runs INTEGER NOT NULL,
    successes INTEGER NOT NULL, duration_sum REAL NOT NULL, PRIMARY KEY (hour, workflow, version)
);
