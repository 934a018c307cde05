-- TMS schema 14 (PostgreSQL): documents follow-ups (issue 8) and WhatsApp
-- (issue 9).

-- The voucher's emergency contact, part of the tenant's branding: all
-- three null, or an E.164 phone with its (possibly empty) name and notes.
ALTER TABLE tenant_branding ADD COLUMN emergency_phone text;
ALTER TABLE tenant_branding ADD COLUMN emergency_name text;
ALTER TABLE tenant_branding ADD COLUMN emergency_notes text;

-- A tenant's WhatsApp Cloud API connection, its public part: the access
-- token, app secret and verify token are sealed in tenant_secrets.
CREATE TABLE whatsapp_connections (
    tenant_id            uuid        NOT NULL PRIMARY KEY REFERENCES tenants (tenant_id),
    phone_number_id      text        NOT NULL,
    business_account_id  text,
    connected_at         timestamptz NOT NULL,
    connected_by         uuid
);

-- Delivery statuses from the webhook; a replay inserts nothing.
CREATE TABLE whatsapp_statuses (
    tenant_id            uuid        NOT NULL REFERENCES tenants (tenant_id),
    provider_message_id  text        NOT NULL,
    status               text        NOT NULL
        CHECK (status IN ('sent', 'delivered', 'read', 'failed')),
    at                   timestamptz NOT NULL,
    error_code           bigint,
    error_title          text,
    recorded_at          timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, provider_message_id, status)
);
