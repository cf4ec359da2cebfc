-- tradeflow analytics, embedded default (SQLite): the same tables, unpartitioned.
CREATE TABLE IF NOT EXISTS workflow_runs (
    ts TEXT NOT NULL, run_id TEXT NOT NULL, thread_id TEXT, workflow TEXT NOT NULL, version TEXT NOT NULL,
    status TEXT NOT NULL, duration_s REAL NOT NULL, error_type TEXT
);
CREATE INDEX IF NOT EXISTS workflow_runs_ts ON workflow_runs (ts);
CREATE TABLE IF NOT EXISTS node_runs (
    ts TEXT NOT NULL, run_id TEXT NOT NULL, workflow TEXT NOT NULL, node TEXT NOT NULL, status TEXT NOT NULL,
    duration_s REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS node_runs_ts ON node_runs (ts);
CREATE TABLE IF NOT EXISTS llm_calls (
    ts TEXT NOT NULL, run_id TEXT, decision_id TEXT, workflow TEXT NOT NULL, provider TEXT NOT NULL,
    model TEXT NOT NULL, backend TEXT, status TEXT NOT NULL, error_class TEXT, attempt INTEGER NOT NULL,
    fallback_of TEXT, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
    token_source TEXT NOT NULL, cost_usd REAL NOT NULL, cost_source TEXT NOT NULL, latency_s REAL NOT NULL,
    ttft_s REAL
);
CREATE INDEX IF NOT EXISTS llm_calls_ts ON llm_calls (ts);
CREATE TABLE IF NOT EXISTS routing_decisions (
    ts TEXT NOT NULL, decision_id TEXT NOT NULL, workflow TEXT NOT NULL, strategy TEXT NOT NULL, choice TEXT,
    answered_by TEXT, outcome TEXT NOT NULL, attempts INTEGER NOT NULL, fallbacks INTEGER NOT NULL,
    candidates INTEGER NOT NULL, excluded INTEGER NOT NULL, estimated_cost_usd REAL, actual_cost_usd REAL NOT NULL,
    total_latency_s REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS routing_decisions_ts ON routing_decisions (ts);
