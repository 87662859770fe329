
-- When the message became deliverable: intake time, or the time a reviewer released it (T5 counts from here).
ALTER TABLE messages ADD COLUMN accepted_at timestamptz;
-- Attempts within the current budget; redelivery resets it while attempts keeps counting every attempt.
ALTER TABLE messages ADD COLUMN budget_attempts integer NOT NULL DEFAULT 0;
CREATE INDEX messages_undelivered ON messages (received_at)
  WHERE non_delivery_at IS NULL AND status IN ('accepted', 'undeliverable');
CREATE INDEX messages_held ON messages (sender, received_at) WHERE status = 'held';

-- What each agency is told about its exchanges (overdue, non-delivery, undeliverable, review):
-- listed by GET /v1/notifications and, for push agencies, POSTed to their webhook.
CREATE TABLE notifications (
  seq             bigserial PRIMARY KEY,
  id              uuid NOT NULL UNIQUE,
  agency          text NOT NULL,
  type            text NOT NULL,
  exchange_id     uuid,
  message_id      uuid,
  created_at      timestamptz NOT NULL,
  details         jsonb NOT NULL DEFAULT '{}',
  push_status     text CHECK (push_status IN ('pending', 'delivered', 'failed')),
  push_attempts   integer NOT NULL DEFAULT 0,
  push_budget_from timestamptz,
  next_push_at    timestamptz,
  pushed_at       timestamptz,
  push_error      text
);
CREATE INDEX notifications_agency ON notifications (agency, seq);
CREATE INDEX notifications_due ON notifications (next_push_at) WHERE push_status = 'pending';
