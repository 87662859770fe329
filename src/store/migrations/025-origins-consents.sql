-- D6, Q3: where the data a message passes on came from, and the provider's consents to its use.
-- Identifiers only (agencies, message ids, uses): no personal data, nothing to erase with a payload.

-- One row per `origin` entry of a message; `origin_message_id` when the data came through leix.
-- Read backwards (which messages carried data derived from X) to answer lineage and to tell every
-- recipient of a correction (Q3).
CREATE TABLE message_origins (
  message_id         uuid NOT NULL REFERENCES messages (id),
  position           integer NOT NULL,
  agency             text NOT NULL,
  origin_message_id  uuid REFERENCES messages (id),
  PRIMARY KEY (message_id, position)
);
CREATE INDEX message_origins_origin ON message_origins (origin_message_id) WHERE origin_message_id IS NOT NULL;

-- The provider's consent to a use of message `message_id` by `holder`: a standing condition of
-- the message itself (`consent_message_id` NULL) or a decision of a `consent` reply. For an
-- onward transfer `recipient` names the agency; the latest decision (highest `seq`) for a use and
-- recipient counts.
CREATE TABLE message_consents (
  seq                 bigserial PRIMARY KEY,
  message_id          uuid NOT NULL REFERENCES messages (id),
  holder              text NOT NULL,
  use                 text NOT NULL CHECK (use IN ('onward-transfer', 'evidence', 'other-purpose')),
  recipient           text,
  granted             boolean NOT NULL,
  consent_message_id  uuid REFERENCES messages (id),
  recorded_at         timestamptz NOT NULL
);
CREATE INDEX message_consents_message ON message_consents (message_id, holder);

GRANT SELECT ON message_origins, message_consents TO leix_app, leix_sealer;
GRANT INSERT ON message_origins, message_consents TO leix_app;
GRANT USAGE ON SEQUENCE message_consents_seq_seq TO leix_app;
