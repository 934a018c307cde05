-- TMS schema 15 (SQLite): Mail Ops (issue 10) — the connected mailbox's
-- threads and messages, the support tickets they become, routing rules,
-- the tenant's Mail Ops settings and its sync cursor.
--
-- Data minimisation: a message keeps headers, the text body, the sanitised
-- HTML body and attachment metadata (JSON) — never attachment bytes.
-- A message is unique per (tenant, provider message id): a message synced
-- twice is stored once.

CREATE TABLE mail_ops_settings (
    tenant_id                  BLOB     NOT NULL PRIMARY KEY REFERENCES tenants (tenant_id),
    sla                        TEXT     NOT NULL,
    first_sync_days            INTEGER   NOT NULL,
    delete_mail_on_disconnect  INTEGER  NOT NULL,
    default_branch_id          BLOB   ,
    version                    INTEGER   NOT NULL
) STRICT;

-- One row per tenant whose sync is on; written after every page, so a
-- crash resumes from the last page read.
CREATE TABLE mail_sync_state (
    tenant_id              BLOB     NOT NULL PRIMARY KEY REFERENCES tenants (tenant_id),
    history_id             TEXT   ,
    full_sync              INTEGER  NOT NULL,
    page_token             TEXT   ,
    full_sync_history_id   TEXT   ,
    status                 TEXT     NOT NULL,
    backoff_until          INTEGER,
    failures               INTEGER   NOT NULL,
    last_error             TEXT   ,
    last_synced_at         INTEGER,
    messages_synced        INTEGER   NOT NULL
) STRICT;
CREATE INDEX mail_sync_state_due ON mail_sync_state (status, backoff_until);

CREATE TABLE mail_threads (
    tenant_id           BLOB     NOT NULL REFERENCES tenants (tenant_id),
    id                  BLOB     NOT NULL,
    provider_thread_id  TEXT     NOT NULL,
    branch_id           BLOB     NOT NULL,
    subject             TEXT     NOT NULL,
    last_message_at     INTEGER    NOT NULL,
    created_at          INTEGER    NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, provider_thread_id)
) STRICT;

CREATE TABLE mail_messages (
    tenant_id            BLOB     NOT NULL,
    id                   BLOB     NOT NULL,
    thread_id            BLOB     NOT NULL,
    provider_message_id  TEXT     NOT NULL,
    message_id_header    TEXT   ,
    in_reply_to          TEXT   ,
    refs                 TEXT     NOT NULL,
    from_address         TEXT   ,
    reply_to             TEXT     NOT NULL,
    to_addresses         TEXT     NOT NULL,
    cc_addresses         TEXT     NOT NULL,
    subject              TEXT     NOT NULL,
    text_body            TEXT     NOT NULL,
    html_body            TEXT   ,
    attachments          TEXT     NOT NULL,
    labels               TEXT     NOT NULL,
    outbound             INTEGER  NOT NULL,
    received_at          INTEGER    NOT NULL,
    created_at           INTEGER    NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, provider_message_id),
    FOREIGN KEY (tenant_id, thread_id) REFERENCES mail_threads (tenant_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX mail_messages_by_thread ON mail_messages (tenant_id, thread_id, received_at);

-- Tickets keep their status history (in the audit log) when the mail is
-- deleted: thread_id becomes null, so no foreign key to mail_threads.
CREATE TABLE support_tickets (
    tenant_id          BLOB     NOT NULL REFERENCES tenants (tenant_id),
    id                 BLOB     NOT NULL,
    branch_id          BLOB     NOT NULL,
    thread_id          BLOB   ,
    subject            TEXT     NOT NULL,
    requester          TEXT   ,
    client_id          BLOB   ,
    status             TEXT     NOT NULL
        CHECK (status IN ('open', 'pending', 'solved', 'closed')),
    priority           TEXT     NOT NULL
        CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    assignee_id        BLOB   ,
    first_response_at  INTEGER,
    solved_at          INTEGER,
    created_at         INTEGER    NOT NULL,
    updated_at         INTEGER    NOT NULL,
    version            INTEGER   NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;
CREATE INDEX support_tickets_by_created ON support_tickets (tenant_id, created_at, id);
CREATE INDEX support_tickets_by_branch ON support_tickets (tenant_id, branch_id, created_at, id);
CREATE INDEX support_tickets_by_status ON support_tickets (tenant_id, status, created_at, id);
CREATE INDEX support_tickets_by_assignee ON support_tickets (tenant_id, assignee_id, created_at, id);
CREATE INDEX support_tickets_by_thread ON support_tickets (tenant_id, thread_id, created_at);
CREATE INDEX support_tickets_by_client ON support_tickets (tenant_id, client_id);

CREATE TABLE support_ticket_notes (
    tenant_id   BLOB     NOT NULL,
    id          BLOB     NOT NULL,
    ticket_id   BLOB     NOT NULL,
    author_id   BLOB   ,
    body        TEXT     NOT NULL,
    created_at  INTEGER    NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES support_tickets (tenant_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX support_ticket_notes_by_ticket ON support_ticket_notes (tenant_id, ticket_id, created_at, id);

CREATE TABLE mail_routing_rules (
    tenant_id      BLOB     NOT NULL REFERENCES tenants (tenant_id),
    id             BLOB     NOT NULL,
    position       INTEGER   NOT NULL,
    mailbox        TEXT   ,
    label          TEXT   ,
    sender_domain  TEXT   ,
    branch_id      BLOB     NOT NULL,
    priority       TEXT     NOT NULL,
    assignee_id    BLOB   ,
    created_at     INTEGER    NOT NULL,
    version        INTEGER   NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;
CREATE INDEX mail_routing_rules_by_position ON mail_routing_rules (tenant_id, position, created_at, id);
