-- TMS schema 10 (PostgreSQL): privacy rights (issue 7).
--
-- Audit events gain a canonical version. Rows written before this schema
-- keep `canon = 1`: their hash covers the before/after payloads themselves
-- and they verify exactly as before (a v1 hash cannot be re-anchored on a
-- digest). Rows written from now on are `canon = 2`: the hash covers
-- `payload_digest`, a salted SHA-256 of the payloads (salt in
-- `payload_salt`), so that erasing a person's data can drop the payload and
-- the salt (`erased_at` set) while the chain still verifies. The
-- append-only trigger now lets exactly that update through, and nothing
-- else; deletes and truncation stay refused.

ALTER TABLE audit_events ADD COLUMN canon bigint NOT NULL DEFAULT 1;
ALTER TABLE audit_events ADD COLUMN payload_digest bytea;
ALTER TABLE audit_events ADD COLUMN payload_salt bytea;
ALTER TABLE audit_events ADD COLUMN erased_at timestamptz;
CREATE INDEX audit_events_by_resource ON audit_events (tenant_id, resource_id, seq);
CREATE INDEX audit_events_by_actor ON audit_events (tenant_id, actor_user_id, seq);

CREATE FUNCTION tms_audit_erase_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.canon = 2 AND OLD.erased_at IS NULL AND OLD.payload_digest IS NOT NULL
       AND NEW.erased_at IS NOT NULL
       AND NEW.before_json IS NULL AND NEW.after_json IS NULL AND NEW.payload_salt IS NULL
       AND (NEW.tenant_id, NEW.seq, NEW.id, NEW.at, NEW.actor_user_id, NEW.actor, NEW.ip,
            NEW.user_agent, NEW.request_id, NEW.action, NEW.resource_kind, NEW.resource_id,
            NEW.branch_id, NEW.prev_hash, NEW.hash, NEW.canon, NEW.payload_digest)
           IS NOT DISTINCT FROM
           (OLD.tenant_id, OLD.seq, OLD.id, OLD.at, OLD.actor_user_id, OLD.actor, OLD.ip,
            OLD.user_agent, OLD.request_id, OLD.action, OLD.resource_kind, OLD.resource_id,
            OLD.branch_id, OLD.prev_hash, OLD.hash, OLD.canon, OLD.payload_digest)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
DROP TRIGGER audit_events_append_only ON audit_events;
CREATE TRIGGER audit_events_append_only
    BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION tms_audit_append_only();
CREATE TRIGGER audit_events_erase_only
    BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION tms_audit_erase_only();

-- Whose personal data was erased, and when (clients, pilgrims, users; and
-- bookings whose travellers the retention job anonymised).
CREATE TABLE privacy_erasures (
    tenant_id     uuid        NOT NULL REFERENCES tenants (tenant_id),
    subject_kind  text        NOT NULL,
    subject_id    uuid        NOT NULL,
    erased_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, subject_kind, subject_id)
);

CREATE INDEX bookings_by_status ON bookings (tenant_id, status, updated_at);
CREATE INDEX pilgrims_by_client ON pilgrims (tenant_id, client_id);
