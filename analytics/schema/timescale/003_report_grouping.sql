-- Fast raw cost reports by day. The UTC day is stored with each LLM call (computed by Postgres at insert), so
-- a report groups on a 4-byte date instead of evaluating date_trunc per row; extended statistics tell the
-- planner how few (day, workflow, provider, model) groups there are, so it picks a hash aggregate rather
-- than sorting every row. The writer ANALYZEs the hypertables periodically, which fills these statistics.
ALTER TABLE llm_calls ADD COLUMN IF NOT EXISTS day date GENERATED ALWAYS AS ((ts AT TIME ZONE 'UTC')::date) STORED;
CREATE STATISTICS IF NOT EXISTS llm_calls_day_groups (ndistinct) ON day, workflow, provider, model FROM llm_calls;
CREATE STATISTICS IF NOT EXISTS llm_calls_hour_groups (ndistinct)
    ON (date_trunc('hour', ts AT TIME ZONE 'UTC')), workflow, model FROM llm_calls;
