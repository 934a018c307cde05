-- TMS schema 4 (SQLite): catalogue, bookings, airline tickets (issue 6).
--
-- The catalogue is tenant-level (no branch). `packages.booked` changes only
-- by the conditional update `booked + n <= capacity`; the CHECK below is a
-- second net, so the database itself refuses an oversold package.
-- A booking is stored whole: travellers and items are JSON values of their
-- row, read and written under its `version`. The travellers' sealed passport
-- numbers are kept apart, in `booking_traveller_passports` (one row per
-- traveller, rewritten with the booking), so that key rotation finds and
-- re-encrypts them like every other sealed column.
-- Calendar dates are ISO-8601 text (YYYY-MM-DD), which sorts as it reads.

CREATE TABLE categories (
    tenant_id    BLOB    NOT NULL REFERENCES tenants (tenant_id),
    id           BLOB    NOT NULL,
    name         TEXT    NOT NULL,
    description  TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;
CREATE INDEX categories_by_created ON categories (tenant_id, created_at, id);

CREATE TABLE packages (
    tenant_id       BLOB    NOT NULL REFERENCES tenants (tenant_id),
    id              BLOB    NOT NULL,
    category_id     BLOB,
    title           TEXT    NOT NULL,
    description     TEXT    NOT NULL,
    price_minor     INTEGER NOT NULL,
    price_currency  TEXT    NOT NULL,
    starts_on       TEXT    NOT NULL,
    ends_on         TEXT    NOT NULL,
    capacity        INTEGER NOT NULL,
    booked          INTEGER NOT NULL,
    inclusions      TEXT    NOT NULL,
    published       INTEGER NOT NULL,
    image_key       TEXT,
    created_at      INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, category_id) REFERENCES categories (tenant_id, id),
    CHECK (booked >= 0 AND booked <= capacity)
) STRICT;
CREATE INDEX packages_by_created ON packages (tenant_id, created_at, id);

CREATE TABLE booking_counters (
    tenant_id    BLOB    NOT NULL REFERENCES tenants (tenant_id),
    year         INTEGER NOT NULL,
    next_number  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, year)
) STRICT;

CREATE TABLE bookings (
    tenant_id   BLOB    NOT NULL REFERENCES tenants (tenant_id),
    id          BLOB    NOT NULL,
    branch_id   BLOB    NOT NULL,
    client_id   BLOB    NOT NULL,
    reference   TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    travellers  TEXT    NOT NULL,
    items       TEXT    NOT NULL,
    created_by  BLOB,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, reference),
    FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id)
) STRICT;
CREATE INDEX bookings_by_created ON bookings (tenant_id, created_at, id);
CREATE INDEX bookings_by_client ON bookings (tenant_id, client_id, created_at, id);

CREATE TABLE booking_traveller_passports (
    tenant_id     BLOB  NOT NULL,
    traveller_id  BLOB  NOT NULL,
    booking_id    BLOB  NOT NULL,
    sealed        BLOB  NOT NULL,
    PRIMARY KEY (tenant_id, traveller_id),
    FOREIGN KEY (tenant_id, booking_id) REFERENCES bookings (tenant_id, id)
        ON DELETE CASCADE
) STRICT;
CREATE INDEX booking_traveller_passports_by_booking
    ON booking_traveller_passports (tenant_id, booking_id);

CREATE TABLE tickets (
    tenant_id       BLOB    NOT NULL REFERENCES tenants (tenant_id),
    id              BLOB    NOT NULL,
    booking_id      BLOB    NOT NULL,
    branch_id       BLOB    NOT NULL,
    pnr             TEXT    NOT NULL,
    airline         TEXT    NOT NULL,
    ticket_number   TEXT    NOT NULL,
    passenger_id    BLOB    NOT NULL,
    segments        TEXT    NOT NULL,
    fare_minor      INTEGER NOT NULL,
    fare_currency   TEXT    NOT NULL,
    taxes_minor     INTEGER NOT NULL,
    taxes_currency  TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    replaces_id     BLOB,
    created_at      INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, ticket_number),
    FOREIGN KEY (tenant_id, booking_id) REFERENCES bookings (tenant_id, id),
    FOREIGN KEY (tenant_id, replaces_id) REFERENCES tickets (tenant_id, id)
) STRICT;
CREATE INDEX tickets_by_booking ON tickets (tenant_id, booking_id, created_at, id);

-- Idempotency keys of every operation that must not run twice (bookings
-- now, payments later).
CREATE TABLE idempotency_keys (
    tenant_id    BLOB    NOT NULL REFERENCES tenants (tenant_id),
    operation    TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    fingerprint  BLOB    NOT NULL,
    resource_id  BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, operation, key)
) STRICT;
