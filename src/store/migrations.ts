import { createPool, ensureDatabase, type Pool } from './db.ts'

/**
 * Schema migrations, applied in order, each once, each in its own transaction, under an advisory
 * lock so that several processes starting at once do not race. Append; never edit a shipped one.
 */
export const MIGRATIONS: { id: string; sql: string }[] = [
  {
    id: '001-exchanges-messages-audit',
    sql: `
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
`,
  },
  {
    id: '002-delivery',
    sql: `
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
`,
  },
  {
    id: '003-audit',
    sql: `
-- The sealer's running tree starts empty; one row, locked FOR UPDATE by the one sealer at a time.
INSERT INTO audit_state (singleton, tree_size, last_leaf, accumulator)
  VALUES (true, 0, NULL, '{"size": 0, "stack": []}') ON CONFLICT DO NOTHING;

-- Auditor queries filter by actor and page by seq.
CREATE INDEX audit_actor_seq ON audit_events (actor, seq) WHERE seq IS NOT NULL;

-- Append-only, enforced by the database as well as proven by the Merkle log: a sealed event, a
-- tree node or a checkpoint is never updated or deleted. The sealer's one UPDATE gives a row its
-- seq (seq NULL -> value); unsealed rows are not yet part of the log.
CREATE FUNCTION leix_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  -- Nested: plpgsql does not short-circuit, and OLD has no seq on the other tables.
  IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'audit_events' THEN
    IF OLD.seq IS NULL THEN
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION 'leix: % is append-only (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = '42501';
END
$fn$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION leix_audit_append_only();
CREATE TRIGGER audit_nodes_append_only BEFORE UPDATE OR DELETE ON audit_nodes
  FOR EACH ROW EXECUTE FUNCTION leix_audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION leix_audit_append_only();
CREATE TRIGGER audit_truncate_refused BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION leix_audit_append_only();
CREATE TRIGGER audit_nodes_truncate_refused BEFORE TRUNCATE ON audit_nodes
  FOR EACH STATEMENT EXECUTE FUNCTION leix_audit_append_only();
CREATE TRIGGER audit_checkpoints_truncate_refused BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION leix_audit_append_only();
`,
  },
  {
    id: '004-retention-review',
    sql: `
ALTER TABLE messages ADD COLUMN review_notified_at timestamptz;
CREATE INDEX messages_review_due ON messages (review_by) WHERE review_notified_at IS NULL AND erased_at IS NULL;
`,
  },
  {
    // Least privilege (README "Database roles"): the owner (who runs this) owns the tables; the
    // app role and the sealer role own nothing and get only grants; only the sealer seals.
    id: '005-least-privilege',
    sql: `
-- Roles are cluster-wide and creating them needs CREATEROLE, which the owner should not hold: an
-- administrator creates them (leix db roles). A superuser migrating (development, benchmarks)
-- creates the missing ones itself; two databases migrating at once may both try, hence the handler.
DO $roles$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['leix_app', 'leix_sealer'] LOOP
    CONTINUE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r);
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
      RAISE EXCEPTION 'leix: the database role % does not exist; an administrator creates the roles first: leix db roles (README "Database roles")', r
        USING ERRCODE = '42704';
    END IF;
    BEGIN
      EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', r);
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- created concurrently
    END;
  END LOOP;
END
$roles$;

-- The grants, as one function that migrate() re-runs after every migration, so that a table added
-- later gets its grants too. It only adds: a migration may grant more explicitly. Convention:
-- tables named audit_* are the log: the app reads them (and records events, below) and only the
-- sealer writes them. Any other table the app reads, inserts and updates; it deletes nothing.
CREATE OR REPLACE FUNCTION leix_apply_grants() RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE t record;
BEGIN
  -- Nobody but the owner creates objects (already so on PostgreSQL >= 15; a warning where we
  -- do not own the schema).
  REVOKE CREATE ON SCHEMA public FROM PUBLIC;
  GRANT USAGE ON SCHEMA public TO leix_app, leix_sealer;
  FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') LOOP
    IF t.relname LIKE 'audit\\_%' OR t.relname = 'leix_migrations' THEN
      EXECUTE format('GRANT SELECT ON %I TO leix_app, leix_sealer', t.relname);
    ELSE
      EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO leix_app', t.relname);
    END IF;
  END LOOP;
  GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO leix_app;
  -- Recording an event: the unsealed columns only (the sealer records alarms too).
  GRANT INSERT (id, type, at, exchange_id, message_id, agencies, actor, event) ON audit_events TO leix_app, leix_sealer;
  GRANT USAGE ON SEQUENCE audit_events_recorded_seq TO leix_sealer;
  -- Sealing: give an event its seq, line and leaf hash; add nodes and a checkpoint; advance the state.
  GRANT UPDATE (seq, line, leaf_hash) ON audit_events TO leix_sealer;
  GRANT INSERT ON audit_nodes, audit_checkpoints TO leix_sealer;
  GRANT UPDATE ON audit_state TO leix_sealer;
END
$fn$;
SELECT leix_apply_grants();

-- Only the sealer seals. Grants already keep the app from the sealing columns; the trigger holds
-- for any role that is not the sealer (the owner included), and keeps the sealer itself from
-- changing what was recorded while sealing it. Superusers are members of every role: nothing
-- inside the database holds against one, which is what the Merkle log and its witnesses are for.
CREATE FUNCTION leix_audit_seal_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF (NEW.seq IS NOT NULL OR NEW.line IS NOT NULL OR NEW.leaf_hash IS NOT NULL)
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
    IF NEW.seq IS NULL OR NEW.line IS NULL OR NEW.leaf_hash IS NULL THEN
      RAISE EXCEPTION 'leix: sealing sets seq, line and leaf_hash together' USING ERRCODE = '42501';
    END IF;
    IF (NEW.id, NEW.type, NEW.at, NEW.exchange_id, NEW.message_id, NEW.agencies, NEW.actor, NEW.event, NEW.recorded)
       IS DISTINCT FROM (OLD.id, OLD.type, OLD.at, OLD.exchange_id, OLD.message_id, OLD.agencies, OLD.actor, OLD.event, OLD.recorded) THEN
      RAISE EXCEPTION 'leix: sealing may not change the recorded event' USING ERRCODE = '42501';
    END IF;
  END IF;
  RETURN NEW;
END
$fn$;
CREATE TRIGGER audit_events_seal_guard BEFORE INSERT OR UPDATE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION leix_audit_seal_guard();

-- The sealer's running tree: changed by the sealer only, and it only grows.
CREATE FUNCTION leix_audit_state_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'UPDATE' AND pg_has_role(current_user, 'leix_sealer', 'MEMBER') THEN
    IF NEW.tree_size < OLD.tree_size OR NEW.singleton IS DISTINCT FROM OLD.singleton THEN
      RAISE EXCEPTION 'leix: the audit tree only grows (% -> %)', OLD.tree_size, NEW.tree_size USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'leix: audit_state is changed by the sealer role only (% by % refused)', TG_OP, current_user USING ERRCODE = '42501';
END
$fn$;
CREATE TRIGGER audit_state_guard BEFORE INSERT OR UPDATE OR DELETE ON audit_state
  FOR EACH ROW EXECUTE FUNCTION leix_audit_state_guard();
CREATE TRIGGER audit_state_truncate_refused BEFORE TRUNCATE ON audit_state
  FOR EACH STATEMENT EXECUTE FUNCTION leix_audit_state_guard();
`,
  },
  {
    id: '020-audit-self-check-justifications',
    sql: `
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
`,
  },
  {
    // Witness cosignatures (c2sp.org/tlog-cosignature) over checkpoints; distinct witnesses by name and key id.
    id: '021-witness-cosignatures',
    sql: `
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
`,
  },
  {
    // Grants for the audit tables added after the roles (integrity alarms, witness cosignatures),
    // and the sealer's right to mark a waiting event refused without sealing it.
    id: '022-grants-alarms-cosignatures-refusals',
    sql: `
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
`,
  },
]

const LOCK_KEY = 0x1e1c5 // advisory lock id for migrations

/** Applies pending migrations; returns the ids applied now. Safe to run concurrently. */
export async function migrate(pool: Pool): Promise<string[]> {
  const client = await pool.connect()
  // A lost connection fails the query in progress; unguarded it would end the process (withClient).
  const lost = (): void => {}
  client.on('error', lost)
  const applied: string[] = []
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY])
    await client.query('CREATE TABLE IF NOT EXISTS leix_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())')
    const { rows } = await client.query<{ id: string }>('SELECT id FROM leix_migrations')
    const done = new Set(rows.map((r) => r.id))
    for (const m of MIGRATIONS) {
      if (done.has(m.id)) continue
      await client.query('BEGIN')
      try {
        await client.query(m.sql)
        // Grants follow every migration, so a new table is never left without them (005).
        const { rows: [grants] } = await client.query<{ fn: string | null }>("SELECT to_regprocedure('leix_apply_grants()')::text AS fn")
        if (grants?.fn) await client.query('SELECT leix_apply_grants()')
        await client.query('INSERT INTO leix_migrations (id) VALUES ($1)', [m.id])
        await client.query('COMMIT')
        applied.push(m.id)
      } catch (err) {
        await client.query('ROLLBACK')
        throw new Error(`migration ${m.id} failed: ${(err as Error).message}`)
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => {})
    client.off('error', lost)
    client.release()
  }
  return applied
}

/**
 * `leix migrate`: connects as the owner role (`migrationUrl(config)`), creates the database if
 * that role may, applies what is pending and disconnects. Returns the ids applied now.
 */
export async function migrateDatabase(ownerUrl: string): Promise<string[]> {
  await ensureDatabase(ownerUrl).catch((err: Error & { code?: string }) => {
    // No CREATEDB: fine when the administrator created the database (leix db roles).
    if (err.code !== '42501') throw err
  })
  const pool = createPool(ownerUrl, { max: 1, applicationName: 'leix-migrate' })
  try {
    return await migrate(pool)
  } finally {
    await pool.end()
  }
}

/**
 * Migrations not yet applied, as the running role sees them; unlike pendingMigrations it throws
 * when the database cannot be read (down, wrong password, no grants) instead of guessing.
 */
export async function unappliedMigrations(db: Pick<Pool, 'query'>): Promise<string[]> {
  let done: Set<string>
  try {
    done = new Set((await db.query<{ id: string }>('SELECT id FROM leix_migrations')).rows.map((r) => r.id))
  } catch (err) {
    if ((err as { code?: string }).code !== '42P01') throw err // 42P01: no table yet, nothing applied
    done = new Set()
  }
  return MIGRATIONS.map((m) => m.id).filter((id) => !done.has(id))
}

/** Migrations not yet applied (for `/health/ready`). */
export async function pendingMigrations(pool: Pool): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    "SELECT id FROM leix_migrations WHERE to_regclass('leix_migrations') IS NOT NULL",
  ).catch(() => ({ rows: [] as { id: string }[] }))
  const done = new Set(rows.map((r) => r.id))
  return MIGRATIONS.map((m) => m.id).filter((id) => !done.has(id))
}
