-- TMS schema 12 (PostgreSQL): outreach (issue 9) — message templates, the
-- suppression list, campaigns and their recipients.
--
-- A template's variables and variants are JSON (checked by the service
-- before they are written). A recipient row is unique per
-- (tenant, campaign, address): whatever re-runs an expansion, nobody is
-- written the same campaign twice. Recipients name the outbox message
-- written for them, without a foreign key: retention may remove outbox rows.

CREATE TABLE outreach_templates (
    tenant_id         uuid    NOT NULL REFERENCES tenants (tenant_id),
    id                uuid    NOT NULL,
    name              text    NOT NULL,
    channel           text    NOT NULL,
    status            text    NOT NULL,
    variables         text    NOT NULL,
    default_language  text    NOT NULL,
    variants          text    NOT NULL,
    approved_by       uuid,
    approved_at       timestamptz,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    version           bigint  NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX outreach_templates_by_created ON outreach_templates (tenant_id, created_at, id);

CREATE TABLE outreach_suppressions (
    tenant_id   uuid    NOT NULL REFERENCES tenants (tenant_id),
    id          uuid    NOT NULL,
    address     text    NOT NULL,
    kind        text    NOT NULL,
    reason      text    NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, address)
);
CREATE INDEX outreach_suppressions_by_created ON outreach_suppressions (tenant_id, created_at, id);

CREATE TABLE outreach_campaigns (
    tenant_id         uuid    NOT NULL REFERENCES tenants (tenant_id),
    id                uuid    NOT NULL,
    name              text    NOT NULL,
    template_id       uuid    NOT NULL,
    channel           text    NOT NULL,
    language          text    NOT NULL,
    branch_id         uuid,
    variables         text    NOT NULL,
    status            text    NOT NULL,
    scheduled_at      timestamptz,
    cursor_client_id  uuid,
    approved_by       uuid,
    created_by        uuid,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    version           bigint  NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, template_id) REFERENCES outreach_templates (tenant_id, id)
);
CREATE INDEX outreach_campaigns_by_created ON outreach_campaigns (tenant_id, created_at, id);
CREATE INDEX outreach_campaigns_active ON outreach_campaigns (status, scheduled_at);

CREATE TABLE outreach_recipients (
    tenant_id    uuid    NOT NULL,
    id           uuid    NOT NULL,
    campaign_id  uuid    NOT NULL,
    client_id    uuid    NOT NULL,
    address      text    NOT NULL,
    state        text    NOT NULL,
    message_id   uuid,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, campaign_id, address),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES outreach_campaigns (tenant_id, id)
);
