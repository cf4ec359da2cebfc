CREATE TABLE IF NOT EXISTS tradeflow_pending_approvals (
    thread_id       TEXT PRIMARY KEY,
    workflow        TEXT NOT NULL,
    requested_by    TEXT,
    request         TEXT NOT NULL,
    requested_at    REAL NOT NULL,
    status          TEXT NOT NULL,
    claim_hash      TEXT,
    claim_owner     TEXT,
    claim_approver  TEXT,
    claim_roles     TEXT,
    claim_resume    TEXT,
    claim_at        REAL,
    claim_expires   REAL,
    claim_used      INTEGER NOT NULL DEFAULT 0,
    decided_by      TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS tradeflow_pending_approvals_claim ON tradeflow_pending_approvals (claim_hash);
