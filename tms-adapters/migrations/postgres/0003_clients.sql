-- TMS schema 3 (PostgreSQL): clients and their consent history.
--
-- `search_name` / `search_latin` hold the lower-cased name and
-- transliteration for prefix search (Latin case-insensitive, other scripts
-- by exact prefix). The passport number is only ever stored sealed
-- (`passport_sealed`, AES-GCM bound to tenant, table, row and field) with
-- its keyed blind index (`passport_index`) for exact search. Dates of
-- birth and expiry are ISO `YYYY-MM-DD` text.

CREATE TABLE clients (
    tenant_id            uuid    NOT NULL REFERENCES tenants (tenant_id),
    id                   uuid    NOT NULL,
    branch_id            uuid    NOT NULL,
    kind                 text    NOT NULL,
    name                 text    NOT NULL,
    search_name          text    NOT NULL,
    latin_name           text,
    search_latin         text,
    phone                text,
    email                text,
    date_of_birth        text,
    nationality          text,
    passport_sealed      bytea,
    passport_index       bytea,
    passport_expires_on  text,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    version              bigint  NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id)
);
CREATE INDEX clients_by_created ON clients (tenant_id, created_at, id);
CREATE INDEX clients_by_branch ON clients (tenant_id, branch_id, created_at, id);
CREATE INDEX clients_by_name ON clients (tenant_id, search_name text_pattern_ops);
CREATE INDEX clients_by_latin ON clients (tenant_id, search_latin text_pattern_ops);
CREATE INDEX clients_by_phone ON clients (tenant_id, phone);
CREATE INDEX clients_by_email ON clients (tenant_id, email);
CREATE INDEX clients_by_passport ON clients (tenant_id, passport_index);

CREATE TABLE client_consents (
    tenant_id    uuid    NOT NULL,
    id           uuid    NOT NULL,
    client_id    uuid    NOT NULL,
    channel      text    NOT NULL,
    granted      boolean NOT NULL,
    source       text    NOT NULL,
    at           timestamptz NOT NULL,
    recorded_by  uuid,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX client_consents_by_client ON client_consents (tenant_id, client_id, channel, at, id);
