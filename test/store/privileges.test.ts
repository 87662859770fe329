// Least privilege in the database (README "Database roles"): the app role and the sealer role own
// nothing and hold only their grants; only the sealer seals; the triggers hold against every role
// but a superuser. A table of (role x forbidden statement) asserts a permission error for each,
// every statement in a transaction that is rolled back, so that nothing a wrongly allowed
// statement did survives into the next row.
import t from 'tap'
import pg from 'pg'
import { recordEvent } from '../../src/audit/record.ts'
import { sealOnce } from '../../src/audit/sealer.ts'
import { ConfigError } from '../../src/config/config.ts'
import { start } from '../../src/server.ts'
import { checkDatabaseRoles, checkRunningRole, setupScript } from '../../src/store/roles.ts'
import { databaseUrlAs, testConfig } from '../helpers.ts'
import { auditTestApp, sendRequest } from '../audit/fixtures.ts'

const a = await auditTestApp(t)
const { rt, audit, databaseUrl } = a

// A log with sealed events, tree nodes and checkpoints, and one event left waiting unsealed.
await sendRequest(a)
await sendRequest(a, 'ME-UP', 'MK-MVR')
if ((await audit.sealOnce()).status !== 'sealed') throw new Error('expected a seal')
await recordEvent(rt.pool, { type: 'delivery.attempted', actor: { kind: 'broker' }, agencies: ['AL-ASP'], outcome: 'ok' }, new Date())

type Role = 'app' | 'sealer' | 'owner'
const clients = {} as Record<Role | 'admin', pg.Client>
for (const role of ['app', 'sealer', 'owner', 'admin'] as const) {
  clients[role] = new pg.Client({ connectionString: databaseUrlAs(databaseUrl, role) })
  await clients[role].connect()
}
t.teardown(async () => { for (const c of Object.values(clients)) await c.end() })

/** Runs `sql` as `role` in a transaction that is always rolled back; resolves with its error, if any. */
async function attempt (role: Role | 'admin', sql: string): Promise<{ code?: string; message: string } | undefined> {
  const c = clients[role]
  await c.query('BEGIN')
  try {
    await c.query(sql)
    return undefined
  } catch (err) {
    return err as { code?: string; message: string }
  } finally {
    await c.query('ROLLBACK')
  }
}

const NOT_OWNER = /must be owner of (table|relation|function)/
const NO_GRANT = /permission denied for (table|sequence)/
const NO_SET = /permission denied to set parameter "session_replication_role"/
const APPEND_ONLY = /append-only/
const SEALER_ONLY = /only the sealer role seals|sealer role only/
const ALL = { app: NOT_OWNER, sealer: NOT_OWNER } as const

/** What each role must not do, and the error that says so; `owner` rows: the triggers refuse even the tables' owner. */
const FORBIDDEN: { what: string; sql: string; refuse: Partial<Record<Role, RegExp>> }[] = [
  // Switching the protections off.
  { what: 'disable every trigger on the events', sql: 'ALTER TABLE audit_events DISABLE TRIGGER ALL', refuse: ALL },
  { what: 'disable the append-only trigger', sql: 'ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only', refuse: ALL },
  { what: 'disable the seal guard', sql: 'ALTER TABLE audit_events DISABLE TRIGGER audit_events_seal_guard', refuse: ALL },
  { what: 'disable the audit_state guard', sql: 'ALTER TABLE audit_state DISABLE TRIGGER USER', refuse: ALL },
  { what: 'disable node triggers', sql: 'ALTER TABLE audit_nodes DISABLE TRIGGER ALL', refuse: ALL },
  { what: 'disable checkpoint triggers', sql: 'ALTER TABLE audit_checkpoints DISABLE TRIGGER ALL', refuse: ALL },
  { what: 'drop a trigger', sql: 'DROP TRIGGER audit_events_append_only ON audit_events', refuse: ALL },
  { what: 'replace a trigger function', sql: "CREATE OR REPLACE FUNCTION leix_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'", refuse: { app: /permission denied for schema public/, sealer: /permission denied for schema public/ } },
  { what: 'drop a trigger function', sql: 'DROP FUNCTION leix_audit_seal_guard() CASCADE', refuse: ALL },
  { what: 'replica mode (skips triggers)', sql: 'SET session_replication_role = replica', refuse: { app: NO_SET, sealer: NO_SET, owner: NO_SET } },
  { what: 'replica mode, transaction-local', sql: 'SET LOCAL session_replication_role = replica', refuse: { app: NO_SET, sealer: NO_SET, owner: NO_SET } },
  { what: 'replica mode through set_config', sql: "SELECT set_config('session_replication_role', 'replica', false)", refuse: { app: NO_SET, sealer: NO_SET, owner: NO_SET } },
  { what: 'become the sealer', sql: 'SET ROLE leix_sealer', refuse: { app: /permission denied to set role/, owner: /permission denied to set role/ } },
  { what: 'become the owner', sql: 'SET ROLE leix_owner', refuse: { app: /permission denied to set role/, sealer: /permission denied to set role/ } },
  { what: 'create a table', sql: 'CREATE TABLE mine (a int)', refuse: { app: /permission denied for schema public/, sealer: /permission denied for schema public/ } },
  // Rewriting sealed events.
  { what: 'edit a sealed event', sql: "UPDATE audit_events SET event = '{}' WHERE seq = 0", refuse: { app: NO_GRANT, sealer: NO_GRANT, owner: APPEND_ONLY } },
  { what: 'edit a sealed line', sql: "UPDATE audit_events SET line = '{}' WHERE seq = 0", refuse: { app: NO_GRANT, sealer: APPEND_ONLY, owner: APPEND_ONLY } },
  { what: 'move a sealed event', sql: 'UPDATE audit_events SET seq = seq + 1000 WHERE seq = 0', refuse: { app: NO_GRANT, sealer: APPEND_ONLY, owner: APPEND_ONLY } },
  { what: 'edit a sealed event\'s columns', sql: "UPDATE audit_events SET type = 'access.denied' WHERE seq = 1", refuse: { app: NO_GRANT, sealer: NO_GRANT, owner: APPEND_ONLY } },
  { what: 'delete a sealed event', sql: 'DELETE FROM audit_events WHERE seq = 0', refuse: { app: NO_GRANT, sealer: NO_GRANT, owner: APPEND_ONLY } },
  { what: 'truncate the events', sql: 'TRUNCATE audit_events', refuse: { app: NO_GRANT, sealer: NO_GRANT, owner: APPEND_ONLY } },
  { what: 'edit a node', sql: 'UPDATE audit_nodes SET hash = hash', refuse: { app: NO_GRANT, sealer: NO_GRANT, owner: APPEND_ONLY } },
  { what: 'delete a node', sql: 'DELETE FROM audit_nodes', refuse: { app: NO_GRANT, sealer: NO_GRANT, owner: APPEND_ONLY } },
  { what: 'insert a node', sql: "INSERT INTO audit_nodes (level, idx, hash) VALUES (40, 0, '\\x00')", refuse: { app: NO_GRANT } },
  { what: 'edit a checkpoint', sql: "UPDATE audit_checkpoints SET jws = 'x.y.z'", refuse: { app: NO_GRANT, sealer: NO_GRANT, owner: APPEND_ONLY } },
  { what: 'delete a checkpoint', sql: 'DELETE FROM audit_checkpoints', refuse: { app: NO_GRANT, sealer: NO_GRANT, owner: APPEND_ONLY } },
  { what: 'insert a checkpoint', sql: "INSERT INTO audit_checkpoints (tree_size, root_hash, jws, created_at) VALUES (1000000, '\\x00', 'x.y.z', now())", refuse: { app: NO_GRANT } },
  // Sealing: only the sealer, and only seq, line and leaf hash together.
  { what: 'seal a waiting event', sql: "UPDATE audit_events SET seq = 1000000, line = '{}', leaf_hash = '\\x00' WHERE seq IS NULL", refuse: { app: NO_GRANT, owner: SEALER_ONLY } },
  { what: 'seal while changing the event', sql: "UPDATE audit_events SET seq = 1000000, line = '{}', leaf_hash = '\\x00', event = '{}' WHERE seq IS NULL", refuse: { app: NO_GRANT, sealer: NO_GRANT, owner: /may not change the recorded event|only the sealer/ } },
  { what: 'change a waiting event', sql: "UPDATE audit_events SET event = '{}' WHERE seq IS NULL", refuse: { app: NO_GRANT, sealer: NO_GRANT, owner: SEALER_ONLY } },
  { what: 'seal halfway', sql: 'UPDATE audit_events SET seq = 1000000 WHERE seq IS NULL', refuse: { app: NO_GRANT, sealer: /seq, line and leaf_hash together/ } },
  { what: 'insert a sealed event', sql: "INSERT INTO audit_events (id, seq, type, at, event, line, leaf_hash) VALUES (gen_random_uuid(), 1000000, 'message.received', now(), '{}', '{}', '\\x00')", refuse: { app: NO_GRANT, sealer: NO_GRANT, owner: /recorded unsealed/ } },
  { what: 'delete a waiting event', sql: 'DELETE FROM audit_events WHERE seq IS NULL', refuse: { app: NO_GRANT, sealer: NO_GRANT } },
  // The sealer's state.
  { what: 'rewind the tree', sql: 'UPDATE audit_state SET tree_size = 0', refuse: { app: NO_GRANT, sealer: /only grows/, owner: SEALER_ONLY } },
  { what: 'rewrite the accumulator', sql: "UPDATE audit_state SET accumulator = '{}'", refuse: { app: NO_GRANT, owner: SEALER_ONLY } },
  { what: 'delete the state', sql: 'DELETE FROM audit_state', refuse: { app: NO_GRANT, sealer: NO_GRANT, owner: SEALER_ONLY } },
  { what: 'insert a state', sql: "INSERT INTO audit_state (singleton, tree_size, accumulator) VALUES (false, 0, '{}')", refuse: { app: NO_GRANT, sealer: NO_GRANT, owner: SEALER_ONLY } },
  { what: 'truncate the state', sql: 'TRUNCATE audit_state', refuse: { app: NO_GRANT, sealer: NO_GRANT, owner: SEALER_ONLY } },
  // The rest of the data: the app deletes nothing; the sealer touches nothing but the log.
  { what: 'delete messages', sql: 'DELETE FROM messages', refuse: { app: NO_GRANT, sealer: NO_GRANT } },
  { what: 'delete exchanges', sql: 'DELETE FROM exchanges', refuse: { app: NO_GRANT, sealer: NO_GRANT } },
  { what: 'edit a message', sql: "UPDATE messages SET status = 'rejected'", refuse: { sealer: NO_GRANT } },
  { what: 'read a message', sql: 'SELECT jws FROM messages', refuse: { sealer: NO_GRANT } },
  { what: 'forge the migration record', sql: "INSERT INTO leix_migrations (id) VALUES ('999-mine')", refuse: { app: NO_GRANT, sealer: NO_GRANT } },
]

for (const row of FORBIDDEN) {
  for (const [role, expected] of Object.entries(row.refuse) as [Role, RegExp][]) {
    t.test(`${role} cannot ${row.what}`, async (t) => {
      const err = await attempt(role, row.sql)
      t.ok(err, `refused: ${row.sql}`)
      t.equal(err?.code, '42501', `insufficient_privilege (${err?.message})`)
      t.match(err?.message, expected)
    })
  }
}

t.test('what the roles may do, they can: the app records, only the sealer seals', async (t) => {
  t.equal(await attempt('app', "INSERT INTO audit_events (id, type, at, event) VALUES (gen_random_uuid(), 'delivery.attempted', now(), '{}')"), undefined, 'the app records an unsealed event')
  t.equal(await attempt('sealer', "UPDATE audit_events SET seq = 1000000, line = '{}', leaf_hash = '\\x00' WHERE seq IS NULL"), undefined, 'the sealer seals')
  t.equal(await attempt('sealer', 'UPDATE audit_state SET tree_size = tree_size + 1'), undefined, 'the sealer advances its state')

  const seal = { clock: rt.clock, key: rt.brokerKey, origin: rt.config.origin }
  await t.rejects(sealOnce({ ...seal, pool: rt.pool }), { code: '42501' }, 'the sealer code on the app connection is refused')
  const sealed = await sealOnce({ ...seal, pool: rt.sealerPool })
  t.equal(sealed.status, 'sealed', 'on the sealer connection it seals')
})

t.test('checkRunningRole finds a role with too much or too little', async (t) => {
  t.same(await checkDatabaseRoles({ app: rt.pool, sealer: rt.sealerPool }), [], 'the suite\'s roles are right')
  t.match(await checkRunningRole(clients.admin, 'app'), [/connects as postgres, which is a superuser/])
  t.match(await checkRunningRole(clients.owner, 'app'), [/connects as leix_owner, which owns .*audit_events/])
  t.match(await checkRunningRole(clients.app, 'sealer'), [/lacks UPDATE on audit_events \(seq\)/])
  t.match((await checkRunningRole(clients.sealer, 'app')).join('\n'), /lacks INSERT on messages/)

  // A grant lost (by hand, or a later migration forgot it): readiness says which; the grants
  // function (run after every migration) puts it back.
  await clients.owner.query('REVOKE INSERT ON messages FROM leix_app; REVOKE UPDATE ON audit_state FROM leix_sealer')
  const ready = await a.app.inject('/health/ready')
  t.equal(ready.statusCode, 503)
  t.match(ready.json().checks['database-roles'].reason, /DATABASE_URL connects as leix_app, which lacks INSERT on messages.*LEIX_SEALER_DATABASE_URL connects as leix_sealer, which lacks UPDATE on audit_state/)
  await clients.owner.query('SELECT leix_apply_grants()')
  t.equal((await a.app.inject('/health/ready')).statusCode, 200)

  await clients.owner.query('GRANT DELETE ON audit_nodes TO leix_sealer')
  t.match((await a.app.inject('/health/ready')).json().checks['database-roles'].reason, /leix_sealer, which holds DELETE on audit_nodes, which it must not/)
  await clients.owner.query('REVOKE DELETE ON audit_nodes FROM leix_sealer')
})

t.test('start-up refuses a superuser, an owner, or a role that cannot log in, and says which URL', async (t) => {
  const base = testConfig(databaseUrl, { port: 0 })
  const cases: [string, Partial<typeof base>, RegExp][] = [
    ['superuser app', { databaseUrl: databaseUrlAs(databaseUrl, 'admin') }, /DATABASE_URL connects as postgres, which is a superuser/],
    ['owner as app', { databaseUrl: databaseUrlAs(databaseUrl, 'owner') }, /DATABASE_URL connects as leix_owner, which owns/],
    ['app as sealer', { sealerDatabaseUrl: databaseUrl }, /LEIX_SEALER_DATABASE_URL connects as leix_app, which lacks UPDATE on audit_events \(seq\)/],
    ['unknown sealer role', { sealerDatabaseUrl: databaseUrl.replace('leix_app', 'leix_nobody') }, /LEIX_SEALER_DATABASE_URL: role "leix_nobody" does not exist/],
  ]
  for (const [name, override, message] of cases) {
    const config = { ...base, ...override }
    delete config.migrateDatabaseUrl
    const error = await start(config).then(async (s) => { await s.stop(); return undefined }, (err: unknown) => err as Error)
    t.ok(error, `${name}: refused`)
    if (name !== 'unknown sealer role') t.type(error, ConfigError, `${name}: a configuration error (exit 2)`)
    t.match(error?.message, message, name)
  }
})

t.test('leix db roles --print: an idempotent script an administrator can run', async (t) => {
  const script = setupScript({ owner: { user: 'leix_owner', password: "it's secret" }, app: { user: 'gateway_login' }, sealer: { user: 'leix_sealer' } }, 'leix')
  t.match(script, /CREATE ROLE "leix_owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE .* PASSWORD 'it''s secret'/)
  t.match(script, /GRANT "leix_app" TO "gateway_login"/, 'a login of another name joins the group role')
  t.match(script, /EXCEPTION WHEN duplicate_object OR unique_violation/)
  t.match(script, /CREATE DATABASE %I OWNER %I/)
})
