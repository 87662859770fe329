
CREATE TABLE audit_cosignatures (
  tree_size    bigint NOT NULL REFERENCES audit_checkpoints (tree_size),
  witness      text NOT NULL,
  key_id       bigint NOT NULL,
  signed_at    timestamptz NOT NULL,
  line         text NOT NULL,
  received_at  timestamptz NOT NULL,
  PRIMARY KEY (tree_size, witness, key_id)
);
CREATE INDEX audit_cosignatures_witness ON audit_cosignatures (witness, tree_size DESC);
