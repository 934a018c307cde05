-- TMS schema 17 (PostgreSQL): Mail Ops (issue 10) — what did not parse in a
-- stored message (a bad charset, a truncated part), as a JSON array of
-- short texts. Messages stored before this schema had theirs dropped: '[]'.
-- A new column of a table that already has its row-level security policy
-- (schema 16) is covered by it: nothing else to do.
ALTER TABLE mail_messages ADD COLUMN defects text NOT NULL DEFAULT '[]';
