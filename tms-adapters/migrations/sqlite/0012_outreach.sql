-- TMS schema 12 (SQLite): outreach (issue 9) — message templates, the
-- suppression list, campaigns and their recipients.
--
-- A template's variables and variants are JSON (checked by the service
-- before they are written). A recipient row is unique per
-- (tenant, campaign, address): whatever re-runs an expansion, nobody is
-- written the same campaign twice. Recipients name the outbox message
-- written for them, without a foreign key: retention may remove outbox rows.

CREATE TABLE outreach_templates (
    tenant_id         BLOB    NOT NULL REFERENCES tenants (tenant_id),
    id                BLOB    NOT NULL,
    name              TEXT    NOT NULL,
    channel           TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    variables         TEXT    NOT NULL,
    default_language  TEXT    NOT NULL,
    variants          TEXT    NOT NULL,
    approved_by       BLOB,
    approved_at       INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    version           INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;
CREATE INDEX outreach_templates_by_created ON outreach_templates (tenant_id, created_at, id);

CREATE TABLE outreach_suppressions (
    tenant_id   BLOB    NOT NULL REFERENCES tenants (tenant_id),
    id          BLOB    NOT NULL,
    address     TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, address)
) STRICT;
CREATE INDEX outreach_suppressions_by_created ON outreach_suppressions (tenant_id, created_at, id);

CREATE TABLE outreach_campaigns (
    tenant_id         BLOB    NOT NULL REFERENCES tenants (tenant_id),
    id                BLOB    NOT NULL,
    name              TEXT    NOT NULL,
    template_id       BLOB    NOT NULL,
    channel           TEXT    NOT NULL,
    language          TEXT    NOT NULL,
    branch_id         BLOB,
    variables         TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    scheduled_at      INTEGER,
    cursor_client_id  BLOB,
    approved_by       BLOB,
    created_by        BLOB,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    version           INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, template_id) REFERENCES outreach_templates (tenant_id, id)
) STRICT;
CREATE INDEX outreach_campaigns_by_created ON outreach_campaigns (tenant_id, created_at, id);
CREATE INDEX outreach_campaigns_active ON outreach_campaigns (status, scheduled_at);

CREATE TABLE outreach_recipients (
    tenant_id    BLOB    NOT NULL,
    id           BLOB    NOT NULL,
    campaign_id  BLOB    NOT NULL,
    client_id    BLOB    NOT NULL,
    address      TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    message_id   BLOB,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, campaign_id, address),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES outreach_campaigns (tenant_id, id)
) STRICT;
