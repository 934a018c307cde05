-- TMS schema 1 (SQLite). Every table leads with tenant_id (the
-- distribution column of a sharded deployment); primary keys are
-- (tenant_id, id). Times are integer microseconds since 1970 UTC, ids 16-byte blobs, secrets
-- sealed bytes that only the key ring opens.

CREATE TABLE tenants (
    tenant_id      BLOB        PRIMARY KEY,
    slug           TEXT        NOT NULL UNIQUE,
    name           TEXT        NOT NULL,
    base_currency  TEXT        NOT NULL,
    created_at     INTEGER NOT NULL,
    version        INTEGER      NOT NULL
) STRICT;

CREATE TABLE tenant_settings (
    tenant_id                      BLOB    PRIMARY KEY REFERENCES tenants (tenant_id),
    require_two_factor_for_admins  INTEGER NOT NULL,
    session_idle_minutes           INTEGER  NOT NULL,
    session_absolute_hours         INTEGER  NOT NULL,
    version                        INTEGER  NOT NULL
) STRICT;

CREATE TABLE tenant_secrets (
    tenant_id  BLOB  NOT NULL REFERENCES tenants (tenant_id),
    name       TEXT  NOT NULL,
    sealed     BLOB NOT NULL,
    PRIMARY KEY (tenant_id, name)
) STRICT;

CREATE TABLE branches (
    tenant_id   BLOB        NOT NULL REFERENCES tenants (tenant_id),
    id          BLOB        NOT NULL,
    name        TEXT        NOT NULL,
    created_at  INTEGER NOT NULL,
    closed_at   INTEGER,
    version     INTEGER      NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;
CREATE INDEX branches_by_created ON branches (tenant_id, created_at, id);

CREATE TABLE users (
    tenant_id       BLOB        NOT NULL REFERENCES tenants (tenant_id),
    id              BLOB        NOT NULL,
    email           TEXT        NOT NULL,
    name            TEXT        NOT NULL,
    role            TEXT        NOT NULL,
    branch_scope    TEXT        NOT NULL,
    password_hash   TEXT,
    totp_secret     BLOB,
    totp_last_step  INTEGER,
    email_otp       INTEGER     NOT NULL,
    disabled_at     INTEGER,
    created_at      INTEGER NOT NULL,
    version         INTEGER      NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
) STRICT;
CREATE INDEX users_by_created ON users (tenant_id, created_at, id);

CREATE TABLE sessions (
    tenant_id     BLOB        NOT NULL,
    id            BLOB        NOT NULL,
    user_id       BLOB        NOT NULL,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    ip            TEXT,
    user_agent    TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
) STRICT;
CREATE INDEX sessions_by_user ON sessions (tenant_id, user_id, created_at, id);

CREATE TABLE lockout_accounts (
    tenant_id     BLOB        NOT NULL,
    email         TEXT        NOT NULL,
    state         TEXT        NOT NULL,
    locked_until  INTEGER,
    PRIMARY KEY (tenant_id, email)
) STRICT;

CREATE TABLE lockout_ips (
    tenant_id  BLOB NOT NULL,
    ip         TEXT NOT NULL,
    state      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, ip)
) STRICT;

CREATE TABLE tokens (
    tenant_id        BLOB        NOT NULL,
    id               BLOB        NOT NULL,
    user_id          BLOB        NOT NULL,
    purpose          TEXT        NOT NULL,
    hash             BLOB       NOT NULL,
    issued_at        INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    failed_attempts  INTEGER      NOT NULL,
    used_at          INTEGER,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, purpose, hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
) STRICT;
CREATE INDEX tokens_by_user ON tokens (tenant_id, user_id, purpose, issued_at);

CREATE TABLE confirmations (
    tenant_id              BLOB        NOT NULL,
    id                     BLOB        NOT NULL,
    actor_user_id          BLOB        NOT NULL,
    action                 TEXT        NOT NULL,
    resource_kind          TEXT        NOT NULL,
    resource_tenant_id     BLOB        NOT NULL,
    resource_branch_id     BLOB,
    resource_id            BLOB,
    resource_is_draft      INTEGER     NOT NULL,
    resource_subject_role  TEXT,
    resource_granted_role  TEXT,
    purpose                TEXT        NOT NULL,
    hash                   BLOB       NOT NULL,
    issued_at              INTEGER NOT NULL,
    expires_at             INTEGER NOT NULL,
    failed_attempts        INTEGER      NOT NULL,
    used_at                INTEGER,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, hash)
) STRICT;

CREATE TABLE audit_heads (
    tenant_id  BLOB   PRIMARY KEY,
    seq        INTEGER NOT NULL,
    hash       BLOB  NOT NULL
) STRICT;

CREATE TABLE audit_events (
    tenant_id      BLOB        NOT NULL,
    seq            INTEGER      NOT NULL,
    id             BLOB        NOT NULL,
    at             INTEGER NOT NULL,
    actor_user_id  BLOB,
    actor          TEXT        NOT NULL,
    ip             TEXT,
    user_agent     TEXT,
    request_id     BLOB        NOT NULL,
    action         TEXT        NOT NULL,
    resource_kind  TEXT        NOT NULL,
    resource_id    BLOB,
    branch_id      BLOB,
    before_json    TEXT,
    after_json     TEXT,
    prev_hash      BLOB       NOT NULL,
    hash           BLOB       NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    UNIQUE (tenant_id, id)
) STRICT;
CREATE INDEX audit_events_by_branch ON audit_events (tenant_id, branch_id, at, seq);

-- Append-only at the database level too: rewriting history needs dropping
-- these triggers first (and verify will still notice).
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- Outbox and delivery log: filled by a later issue.
CREATE TABLE outbox (
    tenant_id        BLOB        NOT NULL,
    id               BLOB        NOT NULL,
    branch_id        BLOB,
    kind             TEXT        NOT NULL,
    payload          TEXT        NOT NULL,
    status           TEXT        NOT NULL,
    attempts         INTEGER      NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    version          INTEGER      NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;
CREATE INDEX outbox_by_created ON outbox (tenant_id, created_at, id);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';

CREATE TABLE delivery_log (
    tenant_id  BLOB        NOT NULL,
    id         BLOB        NOT NULL,
    outbox_id  BLOB        NOT NULL,
    attempt    INTEGER      NOT NULL,
    at         INTEGER NOT NULL,
    outcome    TEXT        NOT NULL,
    detail     TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, outbox_id) REFERENCES outbox (tenant_id, id)
) STRICT;
CREATE INDEX delivery_log_by_message ON delivery_log (tenant_id, outbox_id, attempt);
