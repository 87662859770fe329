// Setting up the database roles: an existing database that a superuser migrated (as leix did
// before the roles) is handed to the owner by `leix db roles`, then migrated by the owner; role
// set-up is idempotent and safe when run from several places at once (roles are cluster-wide).
import t from 'tap'
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { DATABASE_ROLES } from '../../src/config/config.ts'
import { createPool } from '../../src/store/db.ts'
import { MIGRATIONS, migrateDatabase } from '../../src/store/migrations.ts'
import { checkDatabaseRoles, setUpDatabase } from '../../src/store/roles.ts'
import { databaseUrlAs } from '../helpers.ts'

const SPEC = { owner: { user: DATABASE_ROLES.owner }, app: { user: DATABASE_ROLES.app }, sealer: { user: DATABASE_ROLES.sealer } }
const name = `leix_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`
const appUrl = (() => { const u = new URL(databaseUrlAs(`postgres://x@h/${name}`, 'admin')); u.username = DATABASE_ROLES.app; return u.toString() })()
const adminDb = databaseUrlAs(appUrl, 'admin')
const adminServer = (() => { const u = new URL(adminDb); u.pathname = '/postgres'; return u.toString() })()

async function asAdmin<T> (url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return await fn(c)
  } finally {
    await c.end()
  }
}

t.teardown(() => asAdmin(adminServer, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)))

t.test('a database migrated by a superuser is handed to the owner, then migrated by it', async (t) => {
  // The old way: the superuser creates the database and applies the migrations before 005.
  await asAdmin(adminServer, (c) => c.query(`CREATE DATABASE ${name}`))
  const before = MIGRATIONS.slice(0, MIGRATIONS.findIndex((m) => m.id === '005-least-privilege'))
  await asAdmin(adminDb, async (c) => {
    await c.query('CREATE TABLE leix_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())')
    for (const m of before) {
      await c.query(m.sql)
      await c.query('INSERT INTO leix_migrations (id) VALUES ($1)', [m.id])
    }
  })

  // Several administrators (or test files) at once: all succeed.
  await Promise.all([0, 1, 2].map(() => setUpDatabase(adminServer, SPEC, name)))
  const owners = await asAdmin(adminDb, async (c) => (await c.query<{ owner: string; n: number }>(
    'SELECT tableowner AS owner, count(*)::int AS n FROM pg_tables WHERE schemaname = \'public\' GROUP BY 1')).rows)
  t.same(owners.map((o) => o.owner), [DATABASE_ROLES.owner], 'every table now belongs to the owner role')
  const dbOwner = await asAdmin(adminServer, async (c) => (await c.query('SELECT pg_get_userbyid(datdba) AS o FROM pg_database WHERE datname = $1', [name])).rows[0].o)
  t.equal(dbOwner, DATABASE_ROLES.owner)

  const app = createPool(appUrl, { max: 1 })
  const sealer = createPool(databaseUrlAs(appUrl, 'sealer'), { max: 1 })
  t.teardown(async () => { await app.end(); await sealer.end() })
  // What start-up and readiness say until then (the app may not even read leix_migrations yet).
  await t.rejects(checkDatabaseRoles({ app, sealer }), /^DATABASE_URL: permission denied for table leix_migrations: run `leix migrate` as the owner role/)
  const pending = MIGRATIONS.slice(MIGRATIONS.findIndex((m) => m.id === '005-least-privilege')).map((m) => m.id)
  t.same(await migrateDatabase(databaseUrlAs(appUrl, 'owner')), pending, 'the owner applies what is new')
  t.same(await checkDatabaseRoles({ app, sealer }), [], 'the app and the sealer have exactly their grants')
})

t.test('a table added by a later migration gets its grants by convention', async (t) => {
  await asAdmin(databaseUrlAs(appUrl, 'owner'), async (c) => {
    await c.query('CREATE TABLE witness_state (id int PRIMARY KEY); CREATE TABLE audit_later (id int PRIMARY KEY)')
    await c.query('SELECT leix_apply_grants()')
  })
  const app = createPool(appUrl, { max: 1 })
  t.teardown(() => app.end())
  const { rows: [p] } = await app.query(`SELECT has_table_privilege('witness_state', 'INSERT') AS w_insert, has_table_privilege('witness_state', 'DELETE') AS w_delete,
    has_table_privilege('audit_later', 'SELECT') AS a_select, has_table_privilege('audit_later', 'INSERT') AS a_insert`)
  t.same(p, { w_insert: true, w_delete: false, a_select: true, a_insert: false }, 'app writes ordinary tables, only reads audit_* tables, deletes nothing')
})
