CREATE TABLE IF NOT EXISTS tradeflow_api_keys (
    key_id      text PRIMARY KEY,
    identity    text NOT NULL,
    roles       text NOT NULL,
    key_hash    text NOT NULL,
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL,
    revoked_at  timestamptz
);
CREATE TABLE IF NOT EXISTS tradeflow_approval_audit (
    id          bigserial PRIMARY KEY,
    decided_at  timestamptz NOT NULL,
    identity    text NOT NULL,
    requested_by text,
    thread_id   text NOT NULL,
    run_id      text NOT NULL,
    workflow    text NOT NULL,
    break_id    text NOT NULL,
    decision    text NOT NULL,
    reason      text NOT NULL,
    UNIQUE (thread_id, run_id, break_id)
);
CREATE OR REPLACE FUNCTION tradeflow_approval_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'tradeflow_approval_audit is append-only';
END $$;
DROP TRIGGER IF EXISTS tradeflow_approval_audit_append_only ON tradeflow_approval_audit;
CREATE TRIGGER tradeflow_approval_audit_append_only BEFORE UPDATE OR DELETE ON tradeflow_approval_audit
    FOR EACH ROW EXECUTE FUNCTION tradeflow_approval_audit_append_only();
DROP TRIGGER IF EXISTS tradeflow_approval_audit_no_truncate ON tradeflow_approval_audit;
CREATE TRIGGER tradeflow_approval_audit_no_truncate BEFORE TRUNCATE ON tradeflow_approval_audit
    FOR EACH STATEMENT EXECUTE FUNCTION tradeflow_approval_audit_append_only();
