-- TMS schema 1 (PostgreSQL). Every table leads with tenant_id (the
-- distribution column of a sharded deployment); primary keys are
-- (tenant_id, id). Times are timestamptz (microseconds), ids uuid, secrets
-- sealed bytes that only the key ring opens.

CREATE TABLE tenants (
    tenant_id      uuid        PRIMARY KEY,
    slug           text        NOT NULL UNIQUE,
    name           text        NOT NULL,
    base_currency  text        NOT NULL,
    created_at     timestamptz NOT NULL,
    version        bigint      NOT NULL
);

CREATE TABLE tenant_settings (
    tenant_id                      uuid    PRIMARY KEY REFERENCES tenants (tenant_id),
    require_two_factor_for_admins  boolean NOT NULL,
    session_idle_minutes           bigint  NOT NULL,
    session_absolute_hours         bigint  NOT NULL,
    version                        bigint  NOT NULL
);

CREATE TABLE tenant_secrets (
    tenant_id  uuid  NOT NULL REFERENCES tenants (tenant_id),
    name       text  NOT NULL,
    sealed     bytea NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE branches (
    tenant_id   uuid        NOT NULL REFERENCES tenants (tenant_id),
    id          uuid        NOT NULL,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL,
    closed_at   timestamptz,
    version     bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX branches_by_created ON branches (tenant_id, created_at, id);

CREATE TABLE users (
    tenant_id       uuid        NOT NULL REFERENCES tenants (tenant_id),
    id              uuid        NOT NULL,
    email           text        NOT NULL,
    name            text        NOT NULL,
    role            text        NOT NULL,
    branch_scope    text        NOT NULL,
    password_hash   text,
    totp_secret     bytea,
    totp_last_step  bigint,
    email_otp       boolean     NOT NULL,
    disabled_at     timestamptz,
    created_at      timestamptz NOT NULL,
    version         bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);
CREATE INDEX users_by_created ON users (tenant_id, created_at, id);

CREATE TABLE sessions (
    tenant_id     uuid        NOT NULL,
    id            uuid        NOT NULL,
    user_id       uuid        NOT NULL,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    ip            text,
    user_agent    text,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX sessions_by_user ON sessions (tenant_id, user_id, created_at, id);

CREATE TABLE lockout_accounts (
    tenant_id     uuid        NOT NULL,
    email         text        NOT NULL,
    state         text        NOT NULL,
    locked_until  timestamptz,
    PRIMARY KEY (tenant_id, email)
);

CREATE TABLE lockout_ips (
    tenant_id  uuid NOT NULL,
    ip         text NOT NULL,
    state      text NOT NULL,
    PRIMARY KEY (tenant_id, ip)
);

CREATE TABLE tokens (
    tenant_id        uuid        NOT NULL,
    id               uuid        NOT NULL,
    user_id          uuid        NOT NULL,
    purpose          text        NOT NULL,
    hash             bytea       NOT NULL,
    issued_at        timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    failed_attempts  bigint      NOT NULL,
    used_at          timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, purpose, hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX tokens_by_user ON tokens (tenant_id, user_id, purpose, issued_at);

CREATE TABLE confirmations (
    tenant_id              uuid        NOT NULL,
    id                     uuid        NOT NULL,
    actor_user_id          uuid        NOT NULL,
    action                 text        NOT NULL,
    resource_kind          text        NOT NULL,
    resource_tenant_id     uuid        NOT NULL,
    resource_branch_id     uuid,
    resource_id            uuid,
    resource_is_draft      boolean     NOT NULL,
    resource_subject_role  text,
    resource_granted_role  text,
    purpose                text        NOT NULL,
    hash                   bytea       NOT NULL,
    issued_at              timestamptz NOT NULL,
    expires_at             timestamptz NOT NULL,
    failed_attempts        bigint      NOT NULL,
    used_at                timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, hash)
);

CREATE TABLE audit_heads (
    tenant_id  uuid   PRIMARY KEY,
    seq        bigint NOT NULL,
    hash       bytea  NOT NULL
);

CREATE TABLE audit_events (
    tenant_id      uuid        NOT NULL,
    seq            bigint      NOT NULL,
    id             uuid        NOT NULL,
    at             timestamptz NOT NULL,
    actor_user_id  uuid,
    actor          text        NOT NULL,
    ip             text,
    user_agent     text,
    request_id     uuid        NOT NULL,
    action         text        NOT NULL,
    resource_kind  text        NOT NULL,
    resource_id    uuid,
    branch_id      uuid,
    before_json    text,
    after_json     text,
    prev_hash      bytea       NOT NULL,
    hash           bytea       NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    UNIQUE (tenant_id, id)
);
CREATE INDEX audit_events_by_branch ON audit_events (tenant_id, branch_id, at, seq);

-- Append-only at the database level too: only a superuser who disables the
-- trigger can rewrite history (and verify will still notice).
CREATE FUNCTION tms_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION tms_audit_append_only();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION tms_audit_append_only();

-- Outbox and delivery log: filled by a later issue.
CREATE TABLE outbox (
    tenant_id        uuid        NOT NULL,
    id               uuid        NOT NULL,
    branch_id        uuid,
    kind             text        NOT NULL,
    payload          text        NOT NULL,
    status           text        NOT NULL,
    attempts         bigint      NOT NULL,
    next_attempt_at  timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    version          bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX outbox_by_created ON outbox (tenant_id, created_at, id);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';

CREATE TABLE delivery_log (
    tenant_id  uuid        NOT NULL,
    id         uuid        NOT NULL,
    outbox_id  uuid        NOT NULL,
    attempt    bigint      NOT NULL,
    at         timestamptz NOT NULL,
    outcome    text        NOT NULL,
    detail     text,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, outbox_id) REFERENCES outbox (tenant_id, id)
);
CREATE INDEX delivery_log_by_message ON delivery_log (tenant_id, outbox_id, attempt);
