-- TMS schema 8 (SQLite): finance follow-ups (issue 7): tenant tax rates,
-- supplier payables and payments to suppliers, list indexes.
--
-- Tax rates are added, never edited: an invoice line keeps the code and
-- the basis points it was billed at. A payable is what the agency owes a
-- supplier for one booking item (its cost side), recorded once per item
-- (UNIQUE on the item); payments to suppliers are allocated to payables
-- and never beyond what is open (CHECK), like client payments.

CREATE TABLE tax_rates (
    tenant_id    BLOB    NOT NULL REFERENCES tenants (tenant_id),
    code         TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    basis_points INTEGER NOT NULL CHECK (basis_points BETWEEN 0 AND 10000),
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, code)
) STRICT;

CREATE INDEX invoices_by_client ON invoices (tenant_id, client_id, created_at, id);
CREATE INDEX invoices_by_issued ON invoices (tenant_id, issued_at);
CREATE INDEX payments_by_client ON payments (tenant_id, client_id, created_at, id);

CREATE TABLE supplier_payables (
    tenant_id     BLOB    NOT NULL REFERENCES tenants (tenant_id),
    id            BLOB    NOT NULL,
    branch_id     BLOB    NOT NULL,
    booking_id    BLOB    NOT NULL,
    item          INTEGER NOT NULL CHECK (item >= 0),
    supplier      TEXT    NOT NULL,
    description   TEXT    NOT NULL,
    amount_minor  INTEGER NOT NULL CHECK (amount_minor > 0),
    paid_minor    INTEGER NOT NULL,
    currency      TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, booking_id, item),
    FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id),
    FOREIGN KEY (tenant_id, booking_id) REFERENCES bookings (tenant_id, id),
    CHECK (paid_minor >= 0 AND paid_minor <= amount_minor)
) STRICT;
CREATE INDEX supplier_payables_by_created ON supplier_payables (tenant_id, created_at, id);
CREATE INDEX supplier_payables_by_supplier ON supplier_payables (tenant_id, supplier, created_at, id);

CREATE TABLE supplier_payments (
    tenant_id     BLOB    NOT NULL REFERENCES tenants (tenant_id),
    id            BLOB    NOT NULL,
    branch_id     BLOB    NOT NULL,
    supplier      TEXT    NOT NULL,
    amount_minor  INTEGER NOT NULL CHECK (amount_minor > 0),
    currency      TEXT    NOT NULL,
    method        TEXT    NOT NULL,
    reference     TEXT,
    paid_at       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id)
) STRICT;
CREATE INDEX supplier_payments_by_created ON supplier_payments (tenant_id, created_at, id);

CREATE TABLE supplier_payment_allocations (
    tenant_id     BLOB    NOT NULL REFERENCES tenants (tenant_id),
    payment_id    BLOB    NOT NULL,
    position      INTEGER NOT NULL,
    payable_id    BLOB    NOT NULL,
    amount_minor  INTEGER NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (tenant_id, payment_id, position),
    UNIQUE (tenant_id, payment_id, payable_id),
    FOREIGN KEY (tenant_id, payment_id) REFERENCES supplier_payments (tenant_id, id),
    FOREIGN KEY (tenant_id, payable_id) REFERENCES supplier_payables (tenant_id, id)
) STRICT;
