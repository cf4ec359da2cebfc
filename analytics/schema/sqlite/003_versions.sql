-- Versioned runs: experiment and arm (NULL outside experiments), and the id pairing a run with its shadow run.
ALTER TABLE workflow_runs ADD COLUMN experiment TEXT;
ALTER TABLE workflow_runs ADD COLUMN arm TEXT;
ALTER TABLE workflow_runs ADD COLUMN pair_id TEXT;
CREATE INDEX IF NOT EXISTS workflow_runs_experiment ON workflow_runs (experiment, arm) WHERE experiment IS NOT NULL
