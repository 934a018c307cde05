-- TMS schema 16 (SQLite): nothing. PostgreSQL gets row-level security here;
-- an embedded SQLite file has one user, the application itself.
SELECT 1;
