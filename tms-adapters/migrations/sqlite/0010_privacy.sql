-- TMS schema 10 (SQLite): privacy rights (issue 7).
--
-- Audit events gain a canonical version. Rows written before this schema
-- keep `canon = 1`: their hash covers the before/after payloads themselves
-- and they verify exactly as before (SQLite has no SHA-256, and a v1 hash
-- could not be re-anchored on a digest anyway). Rows written from now on
-- are `canon = 2`: the hash covers `payload_digest`, a salted SHA-256 of
-- the payloads (salt in `payload_salt`), so that erasing a person's data
-- can drop the payload and the salt (`erased_at` set) while the chain
-- still verifies. The append-only trigger now lets exactly that update
-- through, and nothing else.

ALTER TABLE audit_events ADD COLUMN canon INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit_events ADD COLUMN payload_digest BLOB;
ALTER TABLE audit_events ADD COLUMN payload_salt BLOB;
ALTER TABLE audit_events ADD COLUMN erased_at INTEGER;
CREATE INDEX audit_events_by_resource ON audit_events (tenant_id, resource_id, seq);
CREATE INDEX audit_events_by_actor ON audit_events (tenant_id, actor_user_id, seq);

DROP TRIGGER audit_events_no_update;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
WHEN NOT (
    OLD.canon = 2 AND OLD.erased_at IS NULL AND OLD.payload_digest IS NOT NULL
    AND NEW.erased_at IS NOT NULL
    AND NEW.before_json IS NULL AND NEW.after_json IS NULL AND NEW.payload_salt IS NULL
    AND NEW.tenant_id IS OLD.tenant_id AND NEW.seq IS OLD.seq AND NEW.id IS OLD.id
    AND NEW.at IS OLD.at AND NEW.actor_user_id IS OLD.actor_user_id
    AND NEW.actor IS OLD.actor AND NEW.ip IS OLD.ip AND NEW.user_agent IS OLD.user_agent
    AND NEW.request_id IS OLD.request_id AND NEW.action IS OLD.action
    AND NEW.resource_kind IS OLD.resource_kind AND NEW.resource_id IS OLD.resource_id
    AND NEW.branch_id IS OLD.branch_id AND NEW.prev_hash IS OLD.prev_hash
    AND NEW.hash IS OLD.hash AND NEW.canon IS OLD.canon
    AND NEW.payload_digest IS OLD.payload_digest
)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- Whose personal data was erased, and when (clients, pilgrims, users; and
-- bookings whose travellers the retention job anonymised).
CREATE TABLE privacy_erasures (
    tenant_id     BLOB    NOT NULL REFERENCES tenants (tenant_id),
    subject_kind  TEXT    NOT NULL,
    subject_id    BLOB    NOT NULL,
    erased_at     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, subject_kind, subject_id)
) STRICT;

CREATE INDEX bookings_by_status ON bookings (tenant_id, status, updated_at);
CREATE INDEX pilgrims_by_client ON pilgrims (tenant_id, client_id);
