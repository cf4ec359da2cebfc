-- Labels, their audit trail and A/B experiments (embedded default).
CREATE TABLE IF NOT EXISTS workflow_labels (
    workflow TEXT NOT NULL, label TEXT NOT NULL, version INTEGER NOT NULL, guardrail TEXT,
    updated_at TEXT NOT NULL, updated_by TEXT NOT NULL, PRIMARY KEY (workflow, label)
);
CREATE TABLE IF NOT EXISTS workflow_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, workflow TEXT NOT NULL, action TEXT NOT NULL,
    label TEXT, from_version INTEGER, to_version INTEGER, actor TEXT NOT NULL, reason TEXT, detail TEXT
);
CREATE INDEX IF NOT EXISTS workflow_audit_workflow ON workflow_audit (workflow, id);
CREATE TABLE IF NOT EXISTS workflow_experiments (
    id TEXT PRIMARY KEY, workflow TEXT NOT NULL, label TEXT NOT NULL, status TEXT NOT NULL, salt TEXT NOT NULL,
    arms TEXT NOT NULL, allocation TEXT NOT NULL, shadow INTEGER, started_at TEXT NOT NULL, started_by TEXT NOT NULL,
    ramped_at TEXT NOT NULL,    stopped_at TEXT, stopped_by TEXT, reason TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS workflow_experiments_one_running ON workflow_experiments (workflow)
    WHERE status = 'running';
CREATE TABLE IF NOT EXISTS versioning_epoch (id INTEGER PRIMARY KEY, epoch INTEGER NOT NULL);
INSERT OR IGNORE INTO versioning_epoch (id, epoch) VALUES (1, 0);
