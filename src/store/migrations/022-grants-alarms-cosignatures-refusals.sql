
-- Integrity alarms are raised by whoever detects the damage (a served line, the self-check in
-- every role, the sealer) and resolved only after a passing full re-walk.
GRANT INSERT, UPDATE (resolved_at) ON audit_alarms TO leix_app, leix_sealer;
-- Witness cosignatures arrive at the gateway; each is verified before it is stored.
GRANT INSERT, UPDATE (signed_at, line, received_at) ON audit_cosignatures TO leix_app;
-- The sealer marks an event it refuses (not a valid audit event); it never seals it.
GRANT UPDATE (refused) ON audit_events TO leix_sealer;

CREATE OR REPLACE FUNCTION leix_audit_seal_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF (NEW.seq IS NOT NULL OR NEW.line IS NOT NULL OR NEW.leaf_hash IS NOT NULL OR NEW.refused IS NOT NULL)
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
    IF (NEW.id, NEW.type, NEW.at, NEW.exchange_id, NEW.message_id, NEW.agencies, NEW.actor, NEW.event, NEW.recorded)
       IS DISTINCT FROM (OLD.id, OLD.type, OLD.at, OLD.exchange_id, OLD.message_id, OLD.agencies, OLD.actor, OLD.event, OLD.recorded) THEN
      RAISE EXCEPTION 'leix: sealing may not change the recorded event' USING ERRCODE = '42501';
    END IF;
    -- Refusing: the mark is set once, and a refused event is never sealed.
    IF NEW.seq IS NULL AND NEW.line IS NULL AND NEW.leaf_hash IS NULL THEN
      IF OLD.refused IS NOT NULL OR NEW.refused IS NULL THEN
        RAISE EXCEPTION 'leix: a waiting event is refused once, with a reason' USING ERRCODE = '42501';
      END IF;
      RETURN NEW;
    END IF;
    IF NEW.seq IS NULL OR NEW.line IS NULL OR NEW.leaf_hash IS NULL OR OLD.refused IS NOT NULL OR NEW.refused IS NOT NULL THEN
      RAISE EXCEPTION 'leix: sealing sets seq, line and leaf_hash together, and never on a refused event' USING ERRCODE = '42501';
    END IF;
  END IF;
  RETURN NEW;
END
$fn$;
