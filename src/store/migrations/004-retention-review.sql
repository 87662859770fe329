
ALTER TABLE messages ADD COLUMN review_notified_at timestamptz;
CREATE INDEX messages_review_due ON messages (review_by) WHERE review_notified_at IS NULL AND erased_at IS NULL;
