-- T2: the deadline profile and the requested agency's time zone are fixed when an exchange opens,
-- so a reply (whatever it cites) or a later directory change cannot move the deadline's basis.
-- Exchanges opened before this migration keep NULL: their deadline is never recomputed.
ALTER TABLE exchanges ADD COLUMN deadline_profile text;
ALTER TABLE exchanges ADD COLUMN time_zone text;

-- Deadline warnings sent, once per exchange, warning and deadline (a moved deadline warns again).
CREATE TABLE deadline_warnings (
  exchange_id  uuid NOT NULL REFERENCES exchanges (id),
  warning      text NOT NULL,
  deadline     timestamptz NOT NULL,
  sent_at      timestamptz NOT NULL,
  PRIMARY KEY (exchange_id, warning, deadline)
);
GRANT SELECT ON deadline_warnings TO leix_app, leix_sealer;
GRANT INSERT ON deadline_warnings TO leix_app;
