-- Every ramp or stop bumps an experiment's revision: a change made from an older revision is refused.
ALTER TABLE workflow_experiments ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
