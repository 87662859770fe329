-- Intake writes three audit events per message and the sealer rewrites each of them (an UPDATE
-- that can never be HOT while seq is indexed, so every index gets a second entry). Indexes on the
-- column copies that no query reads go: searches read the hashed line (migration 020).
-- The agencies column is only tested with `= ANY (agencies)` next to an exchange id (evidence),
-- which the exchange index serves; a GIN index cannot serve `= ANY`.
DROP INDEX IF EXISTS audit_agencies;
-- Auditor searches by actor and by message read the line (audit_line_actor, audit_line_message).
DROP INDEX IF EXISTS audit_actor_seq;
DROP INDEX IF EXISTS audit_message;
-- The only query by type on the column is the witness-alarm list; a partial index serves it and
-- costs nothing for other events.
DROP INDEX IF EXISTS audit_type_at;
CREATE INDEX audit_witness_alarms ON audit_events (at) WHERE type = 'witness.alarm';
