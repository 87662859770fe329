
CREATE TABLE exchanges (
  id              uuid PRIMARY KEY,
  requester       text NOT NULL,
  responder       text NOT NULL,
  opened_by       uuid NOT NULL,
  kind            text NOT NULL CHECK (kind IN ('request', 'spontaneous')),
  case_ref        text NOT NULL,
  crime_areas     text[] NOT NULL,
  legal_basis     text NOT NULL,
  urgency         text NOT NULL CHECK (urgency IN ('urgent', 'normal')),
  classification  text NOT NULL,
  status          text NOT NULL,
  opened_at       timestamptz NOT NULL,
  deadline        timestamptz,
  deadline_basis  text,
  answered_at     timestamptz,
  overdue_at      timestamptz,
  paused_at       timestamptz,
  delayed_until   timestamptz,
  accessibility   text,
  updated_at      timestamptz NOT NULL
);
CREATE INDEX exchanges_requester ON exchanges (requester, opened_at DESC);
CREATE INDEX exchanges_responder ON exchanges (responder, opened_at DESC);
CREATE INDEX exchanges_open_deadline ON exchanges (deadline) WHERE answered_at IS NULL AND overdue_at IS NULL;

CREATE TABLE messages (
  id               uuid PRIMARY KEY,
  exchange_id      uuid NOT NULL REFERENCES exchanges (id),
  kind             text NOT NULL,
  sender           text NOT NULL,
  recipient        text NOT NULL,
  officer          text NOT NULL,
  in_reply_to      uuid REFERENCES messages (id),
  kid              text NOT NULL,
  digest           text NOT NULL,
  jws              text,
  created_at       timestamptz NOT NULL,
  received_at      timestamptz NOT NULL,
  status           text NOT NULL,
  classification   text NOT NULL,
  handling_code    text NOT NULL,
  legal_basis      text NOT NULL,
  erase_by         timestamptz,
  review_by        timestamptz,
  erased_at        timestamptz,
  holds            jsonb,
  receipt          text NOT NULL,
  delivered_at     timestamptz,
  acknowledged_at  timestamptz,
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz,
  delivery_budget_from timestamptz,
  non_delivery_at  timestamptz,
  updated_at       timestamptz NOT NULL
);
CREATE INDEX messages_exchange ON messages (exchange_id, received_at);
CREATE INDEX messages_inbox ON messages (recipient, received_at) WHERE status IN ('accepted', 'undeliverable');
CREATE INDEX messages_due ON messages (next_attempt_at) WHERE status = 'accepted';
CREATE INDEX messages_erase ON messages (erase_by) WHERE erased_at IS NULL;

CREATE TABLE deliveries (
  message_id   uuid NOT NULL REFERENCES messages (id),
  attempt      integer NOT NULL,
  started_at   timestamptz NOT NULL,
  ended_at     timestamptz,
  outcome      text,
  http_status  integer,
  error        text,
  PRIMARY KEY (message_id, attempt)
);

CREATE TABLE audit_events (
  id           uuid PRIMARY KEY,
  seq          bigint UNIQUE,
  type         text NOT NULL,
  at           timestamptz NOT NULL,
  exchange_id  uuid,
  message_id   uuid,
  agencies     text[] NOT NULL DEFAULT '{}',
  actor        text,
  event        jsonb NOT NULL,
  line         text,
  leaf_hash    bytea,
  recorded     bigserial
);
CREATE INDEX audit_unsequenced ON audit_events (recorded) WHERE seq IS NULL;
CREATE INDEX audit_at ON audit_events (at);
CREATE INDEX audit_exchange ON audit_events (exchange_id) WHERE exchange_id IS NOT NULL;
CREATE INDEX audit_message ON audit_events (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX audit_agencies ON audit_events USING gin (agencies);
CREATE INDEX audit_type_at ON audit_events (type, at);

CREATE TABLE audit_nodes (
  level  smallint NOT NULL,
  idx    bigint NOT NULL,
  hash   bytea NOT NULL,
  PRIMARY KEY (level, idx)
);

CREATE TABLE audit_checkpoints (
  tree_size   bigint PRIMARY KEY,
  root_hash   bytea NOT NULL,
  jws         text NOT NULL,
  created_at  timestamptz NOT NULL
);

CREATE TABLE audit_state (
  singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  tree_size    bigint NOT NULL,
  last_leaf    bytea,
  accumulator  jsonb NOT NULL
);
