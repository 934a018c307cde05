-- TMS schema 7 (SQLite): finance (issue 7).
--
-- Money is two columns, `<x>_minor INTEGER` and `<x>_currency text`: exact
-- integer minor units, never a float. Exchange rates are exact decimals,
-- `rate_units / 10^rate_scale`. Invoice numbers come from
-- `invoice_counters`, taken by `UPDATE … RETURNING` inside the issuing
-- transaction, so numbers are gap-free and unique per tenant and series;
-- the UNIQUE constraint on invoices backs that up. Ledger lines are
-- append-only; each journal balances per currency (checked by the code
-- that posts it, in the same transaction as the event).

CREATE TABLE exchange_rates (
    tenant_id     BLOB    NOT NULL REFERENCES tenants (tenant_id),
    id            BLOB    NOT NULL,
    base          TEXT    NOT NULL,
    quote         TEXT    NOT NULL,
    rate_units    INTEGER  NOT NULL CHECK (rate_units > 0),
    rate_scale    INTEGER  NOT NULL CHECK (rate_scale BETWEEN 0 AND 12),
    effective_on  TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, base, quote, effective_on, source)
) STRICT;
CREATE INDEX exchange_rates_by_pair ON exchange_rates (tenant_id, base, quote, effective_on, created_at);

CREATE TABLE invoice_counters (
    tenant_id    BLOB    NOT NULL REFERENCES tenants (tenant_id),
    series       TEXT    NOT NULL,
    next_number  INTEGER  NOT NULL,
    PRIMARY KEY (tenant_id, series)
) STRICT;

CREATE TABLE invoices (
    tenant_id         BLOB    NOT NULL REFERENCES tenants (tenant_id),
    id                BLOB    NOT NULL,
    branch_id         BLOB    NOT NULL,
    client_id         BLOB    NOT NULL,
    booking_id        BLOB,
    series            TEXT    NOT NULL,
    number            INTEGER,
    status            TEXT    NOT NULL,
    currency          TEXT    NOT NULL,
    lines             TEXT    NOT NULL,
    net_minor         INTEGER  NOT NULL,
    tax_minor         INTEGER  NOT NULL,
    total_minor       INTEGER  NOT NULL,
    paid_minor        INTEGER  NOT NULL,
    refunded_minor    INTEGER  NOT NULL,
    credited_minor    INTEGER  NOT NULL,
    issued_at         INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    version           INTEGER  NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, series, number),
    FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id),
    CHECK (total_minor - credited_minor - (paid_minor - refunded_minor) >= 0)
) STRICT;
CREATE INDEX invoices_by_created ON invoices (tenant_id, created_at, id);
CREATE INDEX invoices_by_branch ON invoices (tenant_id, branch_id, created_at, id);

CREATE TABLE payments (
    tenant_id        BLOB    NOT NULL REFERENCES tenants (tenant_id),
    id               BLOB    NOT NULL,
    branch_id        BLOB    NOT NULL,
    client_id        BLOB    NOT NULL,
    amount_minor     INTEGER  NOT NULL CHECK (amount_minor > 0),
    currency         TEXT    NOT NULL,
    method           TEXT    NOT NULL,
    reference        TEXT,
    received_at      INTEGER NOT NULL,
    refunded_minor   INTEGER  NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id),
    CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor)
) STRICT;
CREATE INDEX payments_by_created ON payments (tenant_id, created_at, id);

CREATE TABLE payment_allocations (
    tenant_id     BLOB    NOT NULL REFERENCES tenants (tenant_id),
    payment_id    BLOB    NOT NULL,
    position      INTEGER  NOT NULL,
    invoice_id    BLOB    NOT NULL,
    amount_minor  INTEGER  NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (tenant_id, payment_id, position),
    UNIQUE (tenant_id, payment_id, invoice_id),
    FOREIGN KEY (tenant_id, payment_id) REFERENCES payments (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
) STRICT;

CREATE TABLE refunds (
    tenant_id     BLOB    NOT NULL REFERENCES tenants (tenant_id),
    id            BLOB    NOT NULL,
    branch_id     BLOB    NOT NULL,
    payment_id    BLOB    NOT NULL,
    amount_minor  INTEGER  NOT NULL CHECK (amount_minor > 0),
    currency      TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, payment_id) REFERENCES payments (tenant_id, id)
) STRICT;
CREATE INDEX refunds_by_payment ON refunds (tenant_id, payment_id, created_at);

CREATE TABLE ledger_entries (
    tenant_id     BLOB    NOT NULL REFERENCES tenants (tenant_id),
    journal_id    BLOB    NOT NULL,
    line          INTEGER  NOT NULL,
    branch_id     BLOB    NOT NULL,
    event         TEXT    NOT NULL,
    source_id     BLOB    NOT NULL,
    account       TEXT    NOT NULL,
    side          TEXT    NOT NULL CHECK (side IN ('debit', 'credit')),
    amount_minor  INTEGER  NOT NULL CHECK (amount_minor > 0),
    currency      TEXT    NOT NULL,
    posted_at     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, journal_id, line)
) STRICT;
CREATE INDEX ledger_by_posted ON ledger_entries (tenant_id, posted_at, journal_id, line);
CREATE INDEX ledger_by_source ON ledger_entries (tenant_id, source_id);

CREATE TABLE credit_notes (
    tenant_id     BLOB    NOT NULL REFERENCES tenants (tenant_id),
    id            BLOB    NOT NULL,
    branch_id     BLOB    NOT NULL,
    invoice_id    BLOB    NOT NULL,
    series        TEXT    NOT NULL,
    number        INTEGER NOT NULL,
    net_minor     INTEGER NOT NULL CHECK (net_minor > 0),
    tax_minor     INTEGER NOT NULL CHECK (tax_minor >= 0),
    currency      TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, series, number),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
) STRICT;
CREATE INDEX credit_notes_by_invoice ON credit_notes (tenant_id, invoice_id, created_at);
