-- TMS schema 17 (SQLite): Mail Ops (issue 10) — what did not parse in a
-- stored message (a bad charset, a truncated part), as a JSON array of
-- short texts. Messages stored before this schema had theirs dropped: '[]'.
ALTER TABLE mail_messages ADD COLUMN defects TEXT NOT NULL DEFAULT '[]';
