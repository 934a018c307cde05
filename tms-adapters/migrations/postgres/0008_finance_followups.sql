-- TMS schema 8 (PostgreSQL): finance follow-ups (issue 7): tenant tax rates,
-- supplier payables and payments to suppliers, list indexes.
--
-- Tax rates are added, never edited: an invoice line keeps the code and
-- the basis points it was billed at. A payable is what the agency owes a
-- supplier for one booking item (its cost side), recorded once per item
-- (UNIQUE on the item); payments to suppliers are allocated to payables
-- and never beyond what is open (CHECK), like client payments.

CREATE TABLE tax_rates (
    tenant_id    uuid    NOT NULL REFERENCES tenants (tenant_id),
    code         text    NOT NULL,
    name         text    NOT NULL,
    basis_points bigint  NOT NULL CHECK (basis_points BETWEEN 0 AND 10000),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, code)
);

CREATE INDEX invoices_by_client ON invoices (tenant_id, client_id, created_at, id);
CREATE INDEX invoices_by_issued ON invoices (tenant_id, issued_at);
CREATE INDEX payments_by_client ON payments (tenant_id, client_id, created_at, id);

CREATE TABLE supplier_payables (
    tenant_id     uuid    NOT NULL REFERENCES tenants (tenant_id),
    id            uuid    NOT NULL,
    branch_id     uuid    NOT NULL,
    booking_id    uuid    NOT NULL,
    item          bigint  NOT NULL CHECK (item >= 0),
    supplier      text    NOT NULL,
    description   text    NOT NULL,
    amount_minor  bigint  NOT NULL CHECK (amount_minor > 0),
    paid_minor    bigint  NOT NULL,
    currency      text    NOT NULL,
    created_at timestamptz NOT NULL,
    version       bigint  NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, booking_id, item),
    FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id),
    FOREIGN KEY (tenant_id, booking_id) REFERENCES bookings (tenant_id, id),
    CHECK (paid_minor >= 0 AND paid_minor <= amount_minor)
);
CREATE INDEX supplier_payables_by_created ON supplier_payables (tenant_id, created_at, id);
CREATE INDEX supplier_payables_by_supplier ON supplier_payables (tenant_id, supplier, created_at, id);

CREATE TABLE supplier_payments (
    tenant_id     uuid    NOT NULL REFERENCES tenants (tenant_id),
    id            uuid    NOT NULL,
    branch_id     uuid    NOT NULL,
    supplier      text    NOT NULL,
    amount_minor  bigint  NOT NULL CHECK (amount_minor > 0),
    currency      text    NOT NULL,
    method        text    NOT NULL,
    reference     text,
    paid_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id)
);
CREATE INDEX supplier_payments_by_created ON supplier_payments (tenant_id, created_at, id);

CREATE TABLE supplier_payment_allocations (
    tenant_id     uuid    NOT NULL REFERENCES tenants (tenant_id),
    payment_id    uuid    NOT NULL,
    position      bigint  NOT NULL,
    payable_id    uuid    NOT NULL,
    amount_minor  bigint  NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (tenant_id, payment_id, position),
    UNIQUE (tenant_id, payment_id, payable_id),
    FOREIGN KEY (tenant_id, payment_id) REFERENCES supplier_payments (tenant_id, id),
    FOREIGN KEY (tenant_id, payable_id) REFERENCES supplier_payables (tenant_id, id)
);
