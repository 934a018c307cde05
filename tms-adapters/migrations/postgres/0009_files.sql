-- TMS schema 9 (PostgreSQL): uploaded files and the tenant's branding (issue 8).
--
-- The bytes live in the blob store under `tenants/{tenant}/{category}/{id}`;
-- a row says whose file it is and what it is. The owner is polymorphic
-- (`owner_kind` package, category, branding, booking, client), so there is
-- no foreign key to it: the owners' delete paths remove their files' rows
-- in the same transaction. `branch_id` is the owner's branch when it has
-- one, so that branch scopes apply to files as to their owners.
-- `content_type` is what the bytes were checked to be, never what the
-- client declared; `file_name` is a sanitised display name for
-- Content-Disposition only.

CREATE TABLE files (
    tenant_id     uuid    NOT NULL REFERENCES tenants (tenant_id),
    id            uuid    NOT NULL,
    owner_kind    text    NOT NULL,
    owner_id      uuid    NOT NULL,
    branch_id     uuid,
    content_type  text    NOT NULL,
    size_bytes    bigint  NOT NULL CHECK (size_bytes >= 0),
    sha256        bytea   NOT NULL,
    file_name     text    NOT NULL,
    created_by    uuid,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX files_by_owner ON files (tenant_id, owner_kind, owner_id, created_at, id);

-- What documents print: one row per tenant, once saved.
CREATE TABLE tenant_branding (
    tenant_id      uuid    NOT NULL PRIMARY KEY REFERENCES tenants (tenant_id),
    agency_name    text    NOT NULL,
    address        text    NOT NULL,
    accent_colour  text,
    logo_file_id   uuid,
    version        bigint  NOT NULL,
    FOREIGN KEY (tenant_id, logo_file_id) REFERENCES files (tenant_id, id)
);
