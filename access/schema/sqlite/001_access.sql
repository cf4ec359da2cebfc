CREATE TABLE IF NOT EXISTS tradeflow_api_keys (
    key_id      TEXT PRIMARY KEY,
    identity    TEXT NOT NULL,
    roles       TEXT NOT NULL,
    key_hash    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE TABLE IF NOT EXISTS tradeflow_approval_audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    decided_at  TEXT NOT NULL,
    identity    TEXT NOT NULL,
    requested_by TEXT,
    thread_id   TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    workflow    TEXT NOT NULL,
    break_id    TEXT NOT NULL,
    decision    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    UNIQUE (thread_id, run_id, break_id)
);
CREATE TRIGGER IF NOT EXISTS tradeflow_approval_audit_no_update BEFORE UPDATE ON tradeflow_approval_audit
BEGIN SELECT RAISE(ABORT, 'tradeflow_approval_audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS tradeflow_approval_audit_no_delete BEFORE DELETE ON tradeflow_approval_audit
BEGIN SELECT RAISE(ABORT, 'tradeflow_approval_audit is append-only'); END;
