-- Versioned runs: the experiment and arm a run was assigned (NULL outside experiments), and the id that pairs a
-- served run with its shadow run. The version column carries the resolved version (or a committed spec's id).
ALTER TABLE workflow_runs ADD COLUMN IF NOT EXISTS experiment text;
ALTER TABLE workflow_runs ADD COLUMN IF NOT EXISTS arm text;
ALTER TABLE workflow_runs ADD COLUMN IF NOT EXISTS pair_id text;
CREATE INDEX IF NOT EXISTS workflow_runs_experiment ON workflow_runs (experiment, arm) WHERE experiment IS NOT NULL;
