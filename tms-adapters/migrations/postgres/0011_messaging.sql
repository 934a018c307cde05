-- TMS schema 11 (PostgreSQL): the outbox worker (issue 9). Each attempt in
-- the delivery log names its transport and the provider's message id; a
-- tenant's outbox can be paused and given a daily quota.

ALTER TABLE delivery_log ADD COLUMN transport text;
ALTER TABLE delivery_log ADD COLUMN provider_message_id text;
-- Counting a tenant's sends of the last 24 hours (the daily quota).
CREATE INDEX delivery_log_sent ON delivery_log (tenant_id, outcome, at);

CREATE TABLE outbox_controls (
    tenant_id    uuid    NOT NULL PRIMARY KEY REFERENCES tenants (tenant_id),
    paused       boolean NOT NULL,
    daily_limit  bigint
);
