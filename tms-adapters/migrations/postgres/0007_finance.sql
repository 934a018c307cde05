-- TMS schema 7 (PostgreSQL): finance (issue 7).
--
-- Money is two columns, `<x>_minor bigint` and `<x>_currency text`: exact
-- integer minor units, never a float. Exchange rates are exact decimals,
-- `rate_units / 10^rate_scale`. Invoice numbers come from
-- `invoice_counters`, taken by `UPDATE … RETURNING` inside the issuing
-- transaction, so numbers are gap-free and unique per tenant and series;
-- the UNIQUE constraint on invoices backs that up. Ledger lines are
-- append-only; each journal balances per currency (checked by the code
-- that posts it, in the same transaction as the event).

CREATE TABLE exchange_rates (
    tenant_id     uuid    NOT NULL REFERENCES tenants (tenant_id),
    id            uuid    NOT NULL,
    base          text    NOT NULL,
    quote         text    NOT NULL,
    rate_units    bigint  NOT NULL CHECK (rate_units > 0),
    rate_scale    bigint  NOT NULL CHECK (rate_scale BETWEEN 0 AND 12),
    effective_on  text    NOT NULL,
    source        text    NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, base, quote, effective_on, source)
);
CREATE INDEX exchange_rates_by_pair ON exchange_rates (tenant_id, base, quote, effective_on, created_at);

CREATE TABLE invoice_counters (
    tenant_id    uuid    NOT NULL REFERENCES tenants (tenant_id),
    series       text    NOT NULL,
    next_number  bigint  NOT NULL,
    PRIMARY KEY (tenant_id, series)
);

CREATE TABLE invoices (
    tenant_id         uuid    NOT NULL REFERENCES tenants (tenant_id),
    id                uuid    NOT NULL,
    branch_id         uuid    NOT NULL,
    client_id         uuid    NOT NULL,
    booking_id        uuid,
    series            text    NOT NULL,
    number            bigint,
    status            text    NOT NULL,
    currency          text    NOT NULL,
    lines             text    NOT NULL,
    net_minor         bigint  NOT NULL,
    tax_minor         bigint  NOT NULL,
    total_minor       bigint  NOT NULL,
    paid_minor        bigint  NOT NULL,
    refunded_minor    bigint  NOT NULL,
    credited_minor    bigint  NOT NULL,
    issued_at         timestamptz,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    version           bigint  NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, series, number),
    FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id),
    CHECK (total_minor - credited_minor - (paid_minor - refunded_minor) >= 0)
);
CREATE INDEX invoices_by_created ON invoices (tenant_id, created_at, id);
CREATE INDEX invoices_by_branch ON invoices (tenant_id, branch_id, created_at, id);

CREATE TABLE payments (
    tenant_id        uuid    NOT NULL REFERENCES tenants (tenant_id),
    id               uuid    NOT NULL,
    branch_id        uuid    NOT NULL,
    client_id        uuid    NOT NULL,
    amount_minor     bigint  NOT NULL CHECK (amount_minor > 0),
    currency         text    NOT NULL,
    method           text    NOT NULL,
    reference        text,
    received_at      timestamptz NOT NULL,
    refunded_minor   bigint  NOT NULL,
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id),
    CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor)
);
CREATE INDEX payments_by_created ON payments (tenant_id, created_at, id);

CREATE TABLE payment_allocations (
    tenant_id     uuid    NOT NULL REFERENCES tenants (tenant_id),
    payment_id    uuid    NOT NULL,
    position      bigint  NOT NULL,
    invoice_id    uuid    NOT NULL,
    amount_minor  bigint  NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (tenant_id, payment_id, position),
    UNIQUE (tenant_id, payment_id, invoice_id),
    FOREIGN KEY (tenant_id, payment_id) REFERENCES payments (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);

CREATE TABLE refunds (
    tenant_id     uuid    NOT NULL REFERENCES tenants (tenant_id),
    id            uuid    NOT NULL,
    branch_id     uuid    NOT NULL,
    payment_id    uuid    NOT NULL,
    amount_minor  bigint  NOT NULL CHECK (amount_minor > 0),
    currency      text    NOT NULL,
    reason        text    NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, payment_id) REFERENCES payments (tenant_id, id)
);
CREATE INDEX refunds_by_payment ON refunds (tenant_id, payment_id, created_at);

CREATE TABLE ledger_entries (
    tenant_id     uuid    NOT NULL REFERENCES tenants (tenant_id),
    journal_id    uuid    NOT NULL,
    line          bigint  NOT NULL,
    branch_id     uuid    NOT NULL,
    event         text    NOT NULL,
    source_id     uuid    NOT NULL,
    account       text    NOT NULL,
    side          text    NOT NULL CHECK (side IN ('debit', 'credit')),
    amount_minor  bigint  NOT NULL CHECK (amount_minor > 0),
    currency      text    NOT NULL,
    posted_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, journal_id, line)
);
CREATE INDEX ledger_by_posted ON ledger_entries (tenant_id, posted_at, journal_id, line);
CREATE INDEX ledger_by_source ON ledger_entries (tenant_id, source_id);

CREATE TABLE credit_notes (
    tenant_id     uuid    NOT NULL REFERENCES tenants (tenant_id),
    id            uuid    NOT NULL,
    branch_id     uuid    NOT NULL,
    invoice_id    uuid    NOT NULL,
    series        text    NOT NULL,
    number        bigint  NOT NULL,
    net_minor     bigint  NOT NULL CHECK (net_minor > 0),
    tax_minor     bigint  NOT NULL CHECK (tax_minor >= 0),
    currency      text    NOT NULL,
    reason        text    NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, series, number),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);
CREATE INDEX credit_notes_by_invoice ON credit_notes (tenant_id, invoice_id, created_at);
