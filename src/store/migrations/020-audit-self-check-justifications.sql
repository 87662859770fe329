
-- Integrity alarms of the audit log (self-check, served lines, sealer refusals). While one is
-- open the sealer signs nothing (fail closed); only a passing full re-walk resolves it.
CREATE TABLE audit_alarms (
  id           uuid PRIMARY KEY,
  detected_at  timestamptz NOT NULL,
  seq          bigint,
  source       text NOT NULL,
  reason       text NOT NULL,
  resolved_at  timestamptz
);
CREATE INDEX audit_alarms_open ON audit_alarms (detected_at) WHERE resolved_at IS NULL;

-- An unsealed event the sealer refused (not a valid audit event): kept for the investigation,
-- never sequenced. Set once, on an unsealed row (the append-only trigger allows it).
ALTER TABLE audit_events ADD COLUMN refused text;
DROP INDEX audit_unsequenced;
CREATE INDEX audit_unsequenced ON audit_events (recorded) WHERE seq IS NULL AND refused IS NULL;

-- Free text people write (justifications, review reasons) is personal data (A3): the sealed
-- event holds a code, a case reference and HMAC-SHA-256(salt, text); the text and its salt live
-- here and are erased after the retention period (erasure logged as justification.erased).
CREATE TABLE justifications (
  id          uuid PRIMARY KEY,
  created_at  timestamptz NOT NULL,
  erase_by    timestamptz NOT NULL,
  code        text NOT NULL,
  text        text,
  salt        bytea,
  hash        text NOT NULL,
  erased_at   timestamptz,
  CHECK ((erased_at IS NULL) = (text IS NOT NULL AND salt IS NOT NULL))
);
CREATE INDEX justifications_erase ON justifications (erase_by) WHERE erased_at IS NULL;
CREATE INDEX audit_justification ON audit_events ((event -> 'justification' ->> 'id')) WHERE event ? 'justification';

-- What is shown is what is hashed: searches and timelines select sealed events by what their
-- canonical line says (these indexes), never by the column copy, which a database edit could
-- change without touching any hash. The self-check still compares the copy with the line.
CREATE INDEX audit_line_exchange ON audit_events (((line::jsonb) ->> 'exchangeId'), seq) WHERE line IS NOT NULL;
CREATE INDEX audit_line_message ON audit_events (((line::jsonb) ->> 'messageId'), seq) WHERE line IS NOT NULL;
CREATE INDEX audit_line_type ON audit_events (((line::jsonb) ->> 'type'), seq) WHERE line IS NOT NULL;
CREATE INDEX audit_line_at ON audit_events (((line::jsonb) ->> 'at'), seq) WHERE line IS NOT NULL;
CREATE INDEX audit_line_actor ON audit_events ((COALESCE((line::jsonb) #>> '{actor,id}', (line::jsonb) #>> '{actor,agency}', (line::jsonb) #>> '{actor,kind}')), seq) WHERE line IS NOT NULL;
CREATE INDEX audit_line_agencies ON audit_events USING gin (((line::jsonb) -> 'agencies') jsonb_path_ops) WHERE line IS NOT NULL;

-- When a final answer arrived, for the automatic close of answered exchanges.
CREATE INDEX exchanges_close_due ON exchanges (answered_at) WHERE status IN ('answered', 'refused');
