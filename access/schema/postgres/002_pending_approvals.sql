CREATE TABLE IF NOT EXISTS tradeflow_pending_approvals (
    thread_id       text PRIMARY KEY,
    workflow        text NOT NULL,
    requested_by    text,
    request         text NOT NULL,
    requested_at    double precision NOT NULL,
    status          text NOT NULL,
    claim_hash      text,
    claim_owner     text,
    claim_approver  text,
    claim_roles     text,
    claim_resume    text,
    claim_at        double precision,
    claim_expires   double precision,
    claim_used      integer NOT NULL DEFAULT 0,
    decided_by      text
);
CREATE UNIQUE INDEX IF NOT EXISTS tradeflow_pending_approvals_claim ON tradeflow_pending_approvals (claim_hash);
