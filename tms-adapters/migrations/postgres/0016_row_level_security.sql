-- TMS schema 16 (PostgreSQL): row-level security (issue 11).
--
-- Every table with a tenant_id column gets a policy that lets a transaction
-- see and write only the rows of the tenant named by the transaction-local
-- setting tms.tenant_id, with ENABLE and FORCE ROW LEVEL SECURITY (FORCE:
-- the policies bind the tables' owner too, so a server that connects as the
-- owner is still held to them; only a superuser or a BYPASSRLS role is not).
-- The store sets the setting itself (SqlUnitOfWork::for_tenant) with
-- set_config(…, true): it ends with the transaction. Unset, the policies
-- match no row, so a query that forgets its tenant filter sees its own
-- tenant's rows at most, and code that forgets to set the tenant sees none.
--
-- The loop covers every table that exists now, whichever migration made it;
-- a table created by a later migration must add the same policy itself
-- (tenant_tables_all_have_forced_row_level_security in
-- tms-adapters/tests/store fails until it does).

-- The tenant of the current transaction, or NULL. A plain SQL function, so
-- the planner inlines it and the policy still uses (tenant_id, …) indexes.
CREATE FUNCTION tms_current_tenant() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('tms.tenant_id', true), '')::uuid $$;

-- Whether the transaction is doing system work across tenants (see the
-- system_* policies below: a few tables, a few operations).
CREATE FUNCTION tms_system_work() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('tms.system', true), '') = 'on' $$;

DO $$
DECLARE
    t text;
BEGIN
    FOR t IN
        SELECT c.relname
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid
        WHERE n.nspname = current_schema()
          AND c.relkind IN ('r', 'p')
          AND a.attname = 'tenant_id'
          AND NOT a.attisdropped
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I '
            'USING (tenant_id = tms_current_tenant()) '
            'WITH CHECK (tenant_id = tms_current_tenant())', t);
    END LOOP;
END
$$;

-- System work, table by table, read-only except the outbox claim:
-- - login finds a tenant by its slug, retention lists the tenants;
CREATE POLICY system_read ON tenants FOR SELECT USING (tms_system_work());
-- - the outbox worker claims due messages of every tenant (SELECT … FOR
--   UPDATE SKIP LOCKED, then pushes their lease), skipping paused tenants;
CREATE POLICY system_read ON outbox FOR SELECT USING (tms_system_work());
CREATE POLICY system_claim ON outbox FOR UPDATE
    USING (tms_system_work()) WITH CHECK (tms_system_work());
CREATE POLICY system_read ON outbox_controls FOR SELECT USING (tms_system_work());
-- - the campaign tick finds the campaigns that are due;
CREATE POLICY system_read ON outreach_campaigns FOR SELECT USING (tms_system_work());
-- - the Mail Ops tick finds the mailboxes that are due for a sync;
CREATE POLICY system_read ON mail_sync_state FOR SELECT USING (tms_system_work());
-- - key rotation counts and pages through the sealed columns of every
--   tenant (it rewrites each value scoped to the value's own tenant).
CREATE POLICY system_read ON users FOR SELECT USING (tms_system_work());
CREATE POLICY system_read ON tenant_secrets FOR SELECT USING (tms_system_work());
CREATE POLICY system_read ON clients FOR SELECT USING (tms_system_work());
CREATE POLICY system_read ON booking_traveller_passports FOR SELECT USING (tms_system_work());
CREATE POLICY system_read ON pilgrims FOR SELECT USING (tms_system_work());
