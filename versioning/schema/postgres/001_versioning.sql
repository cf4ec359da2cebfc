-- Labels, their audit trail and A/B experiments: shared by every server replica and the CLI.
CREATE TABLE IF NOT EXISTS workflow_labels (
    workflow    text        NOT NULL,
    label       text        NOT NULL,
    version     integer     NOT NULL,
    guardrail   jsonb,
    updated_at  timestamptz NOT NULL,
    updated_by  text        NOT NULL,
    PRIMARY KEY (workflow, label)
);
CREATE TABLE IF NOT EXISTS workflow_audit (
    id            bigserial   PRIMARY KEY,
    ts            timestamptz NOT NULL,
    workflow      text        NOT NULL,
    action        text        NOT NULL,
    label         text,
    from_version  integer,
    to_version    integer,
    actor         text        NOT NULL,
    reason        text,
    detail        jsonb
);
CREATE INDEX IF NOT EXISTS workflow_audit_workflow ON workflow_audit (workflow, id);
CREATE TABLE IF NOT EXISTS workflow_experiments (
    id          text        PRIMARY KEY,
    workflow    text        NOT NULL,
    label       text        NOT NULL,
    status      text        NOT NULL,
    salt        text        NOT NULL,
    arms        jsonb       NOT NULL,
    allocation  jsonb       NOT NULL,
    shadow      integer,
    started_at  timestamptz NOT NULL,
    started_by  text        NOT NULL,
    ramped_at   timestamptz NOT NULL,
    stopped_at  timestamptz,
    stopped_by  text,
    reason      text
);
-- At most one running experiment per workflow, whoever starts it (two replicas at once included).
CREATE UNIQUE INDEX IF NOT EXISTS workflow_experiments_one_running ON workflow_experiments (workflow)
    WHERE status = 'running';
-- Bumped by every change that can alter how a run resolves its version; caches compare against it.
CREATE TABLE IF NOT EXISTS versioning_epoch (id integer PRIMARY KEY, epoch bigint NOT NULL);
INSERT INTO versioning_epoch (id, epoch) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
