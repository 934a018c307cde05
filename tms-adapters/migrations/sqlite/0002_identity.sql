-- TMS schema 2 (SQLite): what the identity service keeps on a user beyond
-- schema 1. A TOTP secret waiting for its first code (sealed like the
-- active one), and the hashed recovery codes (JSON list of
-- {hash, used_at}). The outbox of schema 1 carries mail as JSON payloads.

ALTER TABLE users ADD COLUMN totp_pending BLOB;
ALTER TABLE users ADD COLUMN recovery_codes TEXT;
