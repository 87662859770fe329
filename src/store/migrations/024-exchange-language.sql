-- P2: the language of the message that opened an exchange, so that its replies can be checked
-- against it. Exchanges opened before this migration keep NULL: their replies are checked against
-- the recipient's languages alone.
ALTER TABLE exchanges ADD COLUMN language text;
