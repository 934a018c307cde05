-- TMS schema 4 (PostgreSQL): catalogue, bookings, airline tickets (issue 6).
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
    tenant_id    uuid    NOT NULL REFERENCES tenants (tenant_id),
    id           uuid    NOT NULL,
    name         text    NOT NULL,
    description  text    NOT NULL,
    created_at   timestamptz NOT NULL,
    version      bigint  NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX categories_by_created ON categories (tenant_id, created_at, id);

CREATE TABLE packages (
    tenant_id       uuid    NOT NULL REFERENCES tenants (tenant_id),
    id              uuid    NOT NULL,
    category_id     uuid,
    title           text    NOT NULL,
    description     text    NOT NULL,
    price_minor     bigint  NOT NULL,
    price_currency  text    NOT NULL,
    starts_on       text    NOT NULL,
    ends_on         text    NOT NULL,
    capacity        bigint  NOT NULL,
    booked          bigint  NOT NULL,
    inclusions      text    NOT NULL,
    published       boolean NOT NULL,
    image_key       text,
    created_at      timestamptz NOT NULL,
    version         bigint  NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, category_id) REFERENCES categories (tenant_id, id),
    CHECK (booked >= 0 AND booked <= capacity)
);
CREATE INDEX packages_by_created ON packages (tenant_id, created_at, id);

CREATE TABLE booking_counters (
    tenant_id    uuid    NOT NULL REFERENCES tenants (tenant_id),
    year         bigint  NOT NULL,
    next_number  bigint  NOT NULL,
    PRIMARY KEY (tenant_id, year)
);

CREATE TABLE bookings (
    tenant_id   uuid    NOT NULL REFERENCES tenants (tenant_id),
    id          uuid    NOT NULL,
    branch_id   uuid    NOT NULL,
    client_id   uuid    NOT NULL,
    reference   text    NOT NULL,
    status      text    NOT NULL,
    travellers  text    NOT NULL,
    items       text    NOT NULL,
    created_by  uuid,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    version     bigint  NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, reference),
    FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id)
);
CREATE INDEX bookings_by_created ON bookings (tenant_id, created_at, id);
CREATE INDEX bookings_by_client ON bookings (tenant_id, client_id, created_at, id);

CREATE TABLE booking_traveller_passports (
    tenant_id     uuid  NOT NULL,
    traveller_id  uuid  NOT NULL,
    booking_id    uuid  NOT NULL,
    sealed        bytea NOT NULL,
    PRIMARY KEY (tenant_id, traveller_id),
    FOREIGN KEY (tenant_id, booking_id) REFERENCES bookings (tenant_id, id)
        ON DELETE CASCADE
);
CREATE INDEX booking_traveller_passports_by_booking
    ON booking_traveller_passports (tenant_id, booking_id);

CREATE TABLE tickets (
    tenant_id       uuid    NOT NULL REFERENCES tenants (tenant_id),
    id              uuid    NOT NULL,
    booking_id      uuid    NOT NULL,
    branch_id       uuid    NOT NULL,
    pnr             text    NOT NULL,
    airline         text    NOT NULL,
    ticket_number   text    NOT NULL,
    passenger_id    uuid    NOT NULL,
    segments        text    NOT NULL,
    fare_minor      bigint  NOT NULL,
    fare_currency   text    NOT NULL,
    taxes_minor     bigint  NOT NULL,
    taxes_currency  text    NOT NULL,
    status          text    NOT NULL,
    replaces_id     uuid,
    created_at      timestamptz NOT NULL,
    version         bigint  NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, ticket_number),
    FOREIGN KEY (tenant_id, booking_id) REFERENCES bookings (tenant_id, id),
    FOREIGN KEY (tenant_id, replaces_id) REFERENCES tickets (tenant_id, id)
);
CREATE INDEX tickets_by_booking ON tickets (tenant_id, booking_id, created_at, id);

-- Idempotency keys of every operation that must not run twice (bookings
-- now, payments later).
CREATE TABLE idempotency_keys (
    tenant_id    uuid    NOT NULL REFERENCES tenants (tenant_id),
    operation    text    NOT NULL,
    key          text    NOT NULL,
    fingerprint  bytea    NOT NULL,
    resource_id  uuid    NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, operation, key)
);
