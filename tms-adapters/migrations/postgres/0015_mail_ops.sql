-- TMS schema 15 (PostgreSQL): Mail Ops (issue 10) — the connected mailbox's
-- threads and messages, the support tickets they become, routing rules,
-- the tenant's Mail Ops settings and its sync cursor.
--
-- Data minimisation: a message keeps headers, the text body, the sanitised
-- HTML body and attachment metadata (JSON) — never attachment bytes.
-- A message is unique per (tenant, provider message id): a message synced
-- twice is stored once.

CREATE TABLE mail_ops_settings (
    tenant_id                  uuid     NOT NULL PRIMARY KEY REFERENCES tenants (tenant_id),
    sla                        text     NOT NULL,
    first_sync_days            bigint    NOT NULL,
    delete_mail_on_disconnect  boolean  NOT NULL,
    default_branch_id          uuid   ,
    version                    bigint    NOT NULL
);

-- One row per tenant whose sync is on; written after every page, so a
-- crash resumes from the last page read.
CREATE TABLE mail_sync_state (
    tenant_id              uuid     NOT NULL PRIMARY KEY REFERENCES tenants (tenant_id),
    history_id             text   ,
    full_sync              boolean  NOT NULL,
    page_token             text   ,
    full_sync_history_id   text   ,
    status                 text     NOT NULL,
    backoff_until          timestamptz,
    failures               bigint    NOT NULL,
    last_error             text   ,
    last_synced_at         timestamptz,
    messages_synced        bigint    NOT NULL
);
CREATE INDEX mail_sync_state_due ON mail_sync_state (status, backoff_until);

CREATE TABLE mail_threads (
    tenant_id           uuid     NOT NULL REFERENCES tenants (tenant_id),
    id                  uuid     NOT NULL,
    provider_thread_id  text     NOT NULL,
    branch_id           uuid     NOT NULL,
    subject             text     NOT NULL,
    last_message_at     timestamptz    NOT NULL,
    created_at          timestamptz    NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, provider_thread_id)
);

CREATE TABLE mail_messages (
    tenant_id            uuid     NOT NULL,
    id                   uuid     NOT NULL,
    thread_id            uuid     NOT NULL,
    provider_message_id  text     NOT NULL,
    message_id_header    text   ,
    in_reply_to          text   ,
    refs                 text     NOT NULL,
    from_address         text   ,
    reply_to             text     NOT NULL,
    to_addresses         text     NOT NULL,
    cc_addresses         text     NOT NULL,
    subject              text     NOT NULL,
    text_body            text     NOT NULL,
    html_body            text   ,
    attachments          text     NOT NULL,
    labels               text     NOT NULL,
    outbound             boolean  NOT NULL,
    received_at          timestamptz    NOT NULL,
    created_at           timestamptz    NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, provider_message_id),
    FOREIGN KEY (tenant_id, thread_id) REFERENCES mail_threads (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX mail_messages_by_thread ON mail_messages (tenant_id, thread_id, received_at);

-- Tickets keep their status history (in the audit log) when the mail is
-- deleted: thread_id becomes null, so no foreign key to mail_threads.
CREATE TABLE support_tickets (
    tenant_id          uuid     NOT NULL REFERENCES tenants (tenant_id),
    id                 uuid     NOT NULL,
    branch_id          uuid     NOT NULL,
    thread_id          uuid   ,
    subject            text     NOT NULL,
    requester          text   ,
    client_id          uuid   ,
    status             text     NOT NULL
        CHECK (status IN ('open', 'pending', 'solved', 'closed')),
    priority           text     NOT NULL
        CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    assignee_id        uuid   ,
    first_response_at  timestamptz,
    solved_at          timestamptz,
    created_at         timestamptz    NOT NULL,
    updated_at         timestamptz    NOT NULL,
    version            bigint    NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX support_tickets_by_created ON support_tickets (tenant_id, created_at, id);
CREATE INDEX support_tickets_by_branch ON support_tickets (tenant_id, branch_id, created_at, id);
CREATE INDEX support_tickets_by_status ON support_tickets (tenant_id, status, created_at, id);
CREATE INDEX support_tickets_by_assignee ON support_tickets (tenant_id, assignee_id, created_at, id);
CREATE INDEX support_tickets_by_thread ON support_tickets (tenant_id, thread_id, created_at);
CREATE INDEX support_tickets_by_client ON support_tickets (tenant_id, client_id);

CREATE TABLE support_ticket_notes (
    tenant_id   uuid     NOT NULL,
    id          uuid     NOT NULL,
    ticket_id   uuid     NOT NULL,
    author_id   uuid   ,
    body        text     NOT NULL,
    created_at  timestamptz    NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES support_tickets (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX support_ticket_notes_by_ticket ON support_ticket_notes (tenant_id, ticket_id, created_at, id);

CREATE TABLE mail_routing_rules (
    tenant_id      uuid     NOT NULL REFERENCES tenants (tenant_id),
    id             uuid     NOT NULL,
    position       bigint    NOT NULL,
    mailbox        text   ,
    label          text   ,
    sender_domain  text   ,
    branch_id      uuid     NOT NULL,
    priority       text     NOT NULL,
    assignee_id    uuid   ,
    created_at     timestamptz    NOT NULL,
    version        bigint    NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX mail_routing_rules_by_position ON mail_routing_rules (tenant_id, position, created_at, id);
