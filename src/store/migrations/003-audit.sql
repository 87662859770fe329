
-- The sealer's running tree starts empty; one row, locked FOR UPDATE by the one sealer at a time.
INSERT INTO audit_state (singleton, tree_size, last_leaf, accumulator)
  VALUES (true, 0, NULL, '{"size": 0, "stack": []}') ON CONFLICT DO NOTHING;

-- Auditor queries filter by actor and page by seq.
CREATE INDEX audit_actor_seq ON audit_events (actor, seq) WHERE seq IS NOT NULL;

-- Append-only, enforced by the database as well as proven by the Merkle log: a sealed event, a
-- tree node or a checkpoint is never updated or deleted. The sealer's one UPDATE gives a row its
-- seq (seq NULL -> value); unsealed rows are not yet part of the log.
CREATE FUNCTION leix_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  -- Nested: plpgsql does not short-circuit, and OLD has no seq on the other tables.
  IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'audit_events' THEN
    IF OLD.seq IS NULL THEN
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION 'leix: % is append-only (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = '42501';
END
$fn$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION leix_audit_append_only();
CREATE TRIGGER audit_nodes_append_only BEFORE UPDATE OR DELETE ON audit_nodes
  FOR EACH ROW EXECUTE FUNCTION leix_audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION leix_audit_append_only();
CREATE TRIGGER audit_truncate_refused BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION leix_audit_append_only();
CREATE TRIGGER audit_nodes_truncate_refused BEFORE TRUNCATE ON audit_nodes
  FOR EACH STATEMENT EXECUTE FUNCTION leix_audit_append_only();
CREATE TRIGGER audit_checkpoints_truncate_refused BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION leix_audit_append_only();
