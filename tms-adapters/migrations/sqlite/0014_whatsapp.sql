-- TMS schema 14 (SQLite): documents follow-ups (issue 8) and WhatsApp
-- (issue 9).

-- The voucher's emergency contact, part of the tenant's branding: all
-- three null, or an E.164 phone with its (possibly empty) name and notes.
ALTER TABLE tenant_branding ADD COLUMN emergency_phone TEXT;
ALTER TABLE tenant_branding ADD COLUMN emergency_name TEXT;
ALTER TABLE tenant_branding ADD COLUMN emergency_notes TEXT;

-- A tenant's WhatsApp Cloud API connection, its public part: the access
-- token, app secret and verify token are sealed in tenant_secrets.
CREATE TABLE whatsapp_connections (
    tenant_id            BLOB    NOT NULL PRIMARY KEY REFERENCES tenants (tenant_id),
    phone_number_id      TEXT    NOT NULL,
    business_account_id  TEXT,
    connected_at         INTEGER NOT NULL,
    connected_by         BLOB
) STRICT;

-- Delivery statuses from the webhook; a replay inserts nothing.
CREATE TABLE whatsapp_statuses (
    tenant_id            BLOB    NOT NULL REFERENCES tenants (tenant_id),
    provider_message_id  TEXT    NOT NULL,
    status               TEXT    NOT NULL
        CHECK (status IN ('sent', 'delivered', 'read', 'failed')),
    at                   INTEGER NOT NULL,
    error_code           INTEGER,
    error_title          TEXT,
    recorded_at          INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, provider_message_id, status)
) STRICT;
