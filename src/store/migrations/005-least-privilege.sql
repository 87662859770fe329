
-- Roles are cluster-wide and creating them needs CREATEROLE, which the owner should not hold: an
-- administrator creates them (leix db roles). A superuser migrating (development, benchmarks)
-- creates the missing ones itself; two databases migrating at once may both try, hence the handler.
DO $roles$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['leix_app', 'leix_sealer'] LOOP
    CONTINUE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r);
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
      RAISE EXCEPTION 'leix: the database role % does not exist; an administrator creates the roles first: leix db roles (README "Database roles")', r
        USING ERRCODE = '42704';
    END IF;
    BEGIN
      EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', r);
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- created concurrently
    END;
  END LOOP;
END
$roles$;

-- The grants, as one function that migrate() re-runs after every migration, so that a table added
-- later gets its grants too. It only adds: a migration may grant more explicitly. Convention:
-- tables named audit_* are the log: the app reads them (and records events, below) and only the
-- sealer writes them. Any other table the app reads, inserts and updates; it deletes nothing.
CREATE OR REPLACE FUNCTION leix_apply_grants() RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE t record;
BEGIN
  -- Nobody but the owner creates objects (already so on PostgreSQL >= 15; a warning where we
  -- do not own the schema).
  REVOKE CREATE ON SCHEMA public FROM PUBLIC;
  GRANT USAGE ON SCHEMA public TO leix_app, leix_sealer;
  FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') LOOP
    IF t.relname LIKE 'audit\_%' OR t.relname = 'leix_migrations' THEN
      EXECUTE format('GRANT SELECT ON %I TO leix_app, leix_sealer', t.relname);
    ELSE
      EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO leix_app', t.relname);
    END IF;
  END LOOP;
  GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO leix_app;
  -- Recording an event: the unsealed columns only (the sealer records alarms too).
  GRANT INSERT (id, type, at, exchange_id, message_id, agencies, actor, event) ON audit_events TO leix_app, leix_sealer;
  GRANT USAGE ON SEQUENCE audit_events_recorded_seq TO leix_sealer;
  -- Sealing: give an event its seq, line and leaf hash; add nodes and a checkpoint; advance the state.
  GRANT UPDATE (seq, line, leaf_hash) ON audit_events TO leix_sealer;
  GRANT INSERT ON audit_nodes, audit_checkpoints TO leix_sealer;
  GRANT UPDATE ON audit_state TO leix_sealer;
END
$fn$;
SELECT leix_apply_grants();

-- Only the sealer seals. Grants already keep the app from the sealing columns; the trigger holds
-- for any role that is not the sealer (the owner included), and keeps the sealer itself from
-- changing what was recorded while sealing it. Superusers are members of every role: nothing
-- inside the database holds against one, which is what the Merkle log and its witnesses are for.
CREATE FUNCTION leix_audit_seal_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF (NEW.seq IS NOT NULL OR NEW.line IS NOT NULL OR NEW.leaf_hash IS NOT NULL)
       AND NOT pg_has_role(current_user, 'leix_sealer', 'MEMBER') THEN
      RAISE EXCEPTION 'leix: events are recorded unsealed; only the sealer role seals them' USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
  END IF;
  -- UPDATE: sealed rows never reach here (audit_events_append_only refuses them first).
  IF OLD.seq IS NULL THEN
    IF NOT pg_has_role(current_user, 'leix_sealer', 'MEMBER') THEN
      RAISE EXCEPTION 'leix: only the sealer role seals audit events (% refused)', current_user USING ERRCODE = '42501';
    END IF;
    IF NEW.seq IS NULL OR NEW.line IS NULL OR NEW.leaf_hash IS NULL THEN
      RAISE EXCEPTION 'leix: sealing sets seq, line and leaf_hash together' USING ERRCODE = '42501';
    END IF;
    IF (NEW.id, NEW.type, NEW.at, NEW.exchange_id, NEW.message_id, NEW.agencies, NEW.actor, NEW.event, NEW.recorded)
       IS DISTINCT FROM (OLD.id, OLD.type, OLD.at, OLD.exchange_id, OLD.message_id, OLD.agencies, OLD.actor, OLD.event, OLD.recorded) THEN
      RAISE EXCEPTION 'leix: sealing may not change the recorded event' USING ERRCODE = '42501';
    END IF;
  END IF;
  RETURN NEW;
END
$fn$;
CREATE TRIGGER audit_events_seal_guard BEFORE INSERT OR UPDATE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION leix_audit_seal_guard();

-- The sealer's running tree: changed by the sealer only, and it only grows.
CREATE FUNCTION leix_audit_state_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'UPDATE' AND pg_has_role(current_user, 'leix_sealer', 'MEMBER') THEN
    IF NEW.tree_size < OLD.tree_size OR NEW.singleton IS DISTINCT FROM OLD.singleton THEN
      RAISE EXCEPTION 'leix: the audit tree only grows (% -> %)', OLD.tree_size, NEW.tree_size USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'leix: audit_state is changed by the sealer role only (% by % refused)', TG_OP, current_user USING ERRCODE = '42501';
END
$fn$;
CREATE TRIGGER audit_state_guard BEFORE INSERT OR UPDATE OR DELETE ON audit_state
  FOR EACH ROW EXECUTE FUNCTION leix_audit_state_guard();
CREATE TRIGGER audit_state_truncate_refused BEFORE TRUNCATE ON audit_state
  FOR EACH STATEMENT EXECUTE FUNCTION leix_audit_state_guard();
