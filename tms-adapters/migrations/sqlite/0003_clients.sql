-- TMS schema 3 (SQLite): clients and their consent history.
--
-- `search_name` / `search_latin` hold the lower-cased name and
-- transliteration for prefix search (Latin case-insensitive, other scripts
-- by exact prefix). The passport number is only ever stored sealed
-- (`passport_sealed`, AES-GCM bound to tenant, table, row and field) with
-- its keyed blind index (`passport_index`) for exact search. Dates of
-- birth and expiry are ISO `YYYY-MM-DD` text.

CREATE TABLE clients (
    tenant_id            BLOB    NOT NULL REFERENCES tenants (tenant_id),
    id                   BLOB    NOT NULL,
    branch_id            BLOB    NOT NULL,
    kind                 TEXT    NOT NULL,
    name                 TEXT    NOT NULL,
    search_name          TEXT    NOT NULL,
    latin_name           TEXT,
    search_latin         TEXT,
    phone                TEXT,
    email                TEXT,
    date_of_birth        TEXT,
    nationality          TEXT,
    passport_sealed      BLOB,
    passport_index       BLOB,
    passport_expires_on  TEXT,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    version              INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id)
) STRICT;
CREATE INDEX clients_by_created ON clients (tenant_id, created_at, id);
CREATE INDEX clients_by_branch ON clients (tenant_id, branch_id, created_at, id);
CREATE INDEX clients_by_name ON clients (tenant_id, search_name);
CREATE INDEX clients_by_latin ON clients (tenant_id, search_latin);
CREATE INDEX clients_by_phone ON clients (tenant_id, phone);
CREATE INDEX clients_by_email ON clients (tenant_id, email);
CREATE INDEX clients_by_passport ON clients (tenant_id, passport_index);

CREATE TABLE client_consents (
    tenant_id    BLOB    NOT NULL,
    id           BLOB    NOT NULL,
    client_id    BLOB    NOT NULL,
    channel      TEXT    NOT NULL,
    granted      INTEGER NOT NULL,
    source       TEXT    NOT NULL,
    at           INTEGER NOT NULL,
    recorded_by  BLOB,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX client_consents_by_client ON client_consents (tenant_id, client_id, channel, at, id);
