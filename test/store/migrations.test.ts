// Migrations as data: the .sql files and their manifest, applied each once under an advisory lock
// with a checksum recorded, refusing databases this code does not know or whose migrations
// changed; readiness telling a database that is down from one that lacks migrations.
import t, { type Test } from 'tap'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { buildApp } from '../../src/app.ts'
import { startServices } from '../../src/background.ts'
import { createRuntime } from '../../src/runtime.ts'
import { start } from '../../src/server.ts'
import { createPool, type Pool } from '../../src/store/db.ts'
import { loadMigrations, migrate, MIGRATIONS, MIGRATIONS_DIR, unappliedMigrations, type Migration } from '../../src/store/migrations.ts'
import { createTestDatabase, databaseUrlAs, dropQueueKeys, freePort, testConfig } from '../helpers.ts'

const ALL = MIGRATIONS.map((m) => m.id)

// Shipped migrations are never edited: the manifest may only grow past these (it is the freeze
// at run time, this is the freeze in review: changing a file and its manifest entry together
// still fails here).
const SHIPPED: [string, string][] = [
  ['001-exchanges-messages-audit', 'fd025d348fe38d2da9438e283a1ed972e1b8f66ba45608332e551a8826990fff'],
  ['002-delivery', '935b524d78c7683ec94074a61842dd53ab2076aa2cc81900252d9fc175c7cae2'],
  ['003-audit', '5bd7748d989f11c54ed2c48056c7d568cc26ed74b784bf3baa46efb3a3d87bc0'],
  ['004-retention-review', 'dcffe2b20411cfa7581e9d9f89ccd12b346a5d1ab0e8c092409c11d33712e87a'],
  ['005-least-privilege', '2810acb0a8afd5437c7b7950d2878670d59a6f676e0da66c76a6a912fd5bd38f'],
  ['020-audit-self-check-justifications', '48fa0bcb72df43762ae039c18aac28ad4d24d53a76ec3beb618599540c9a8d68'],
  ['021-witness-cosignatures', '144d8643461e1af4d3672c8a063ad35b4ce0172b6361f641ed378b8c43f8b298'],
  ['022-grants-alarms-cosignatures-refusals', 'be45c2055a9bd24fe3ed8810fea8a193821f4d581371ab7770083d986a1c97c1'],
]

/** A pool as the owner role (who migrates) on a fresh test database, and one as the app role. */
async function database (t: Test): Promise<{ owner: Pool; app: Pool; url: string }> {
  const url = await createTestDatabase(t)
  const owner = createPool(databaseUrlAs(url, 'owner'), { max: 1 })
  const app = createPool(url, { max: 1 })
  t.teardown(async () => { await owner.end(); await app.end() })
  return { owner, app, url }
}

async function ledger (pool: Pool): Promise<{ id: string; checksum: string | null }[]> {
  return (await pool.query<{ id: string; checksum: string | null }>('SELECT id, checksum FROM leix_migrations ORDER BY id')).rows
}

t.test('the folder holds exactly the manifest\'s files, in order, the shipped ones unchanged', async (t) => {
  const files = readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).map((f) => f.slice(0, -4)).sort()
  t.same(files, ALL, 'every .sql file is listed, in the order of its number')
  t.same(MIGRATIONS.slice(0, SHIPPED.length).map((m) => [m.id, m.checksum]), SHIPPED)
})

t.test('a file that differs from the manifest is refused, naming it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'leix-migrations-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  cpSync(MIGRATIONS_DIR, dir, { recursive: true })
  const file = join(dir, '003-audit.sql')
  writeFileSync(file, readFileSync(file, 'utf8').replace('audit_actor_seq', 'audit_actor_seq_edited'))
  t.throws(() => loadMigrations(pathToFileURL(`${dir}/`)), { code: 'changed-file', message: /migration 003-audit: .*003-audit\.sql has SHA-256 [0-9a-f]{64}, the manifest 5bd7748d/ })
  rmSync(file)
  t.throws(() => loadMigrations(pathToFileURL(`${dir}/`)), { code: 'bad-manifest', message: /cannot read migration 003-audit/ })
})

t.test('fresh database: every migration applied once with its checksum; a re-run is a no-op', async (t) => {
  const { owner, app } = await database(t)
  t.same(await unappliedMigrations(app), ALL, 'nothing applied yet (no ledger)')
  t.same(await migrate(owner), ALL)
  t.same(await ledger(owner), MIGRATIONS.map((m) => ({ id: m.id, checksum: m.checksum })).sort((a, b) => a.id.localeCompare(b.id)))
  t.same(await unappliedMigrations(app), [], 'the app role sees nothing pending')
  t.same(await migrate(owner), [], 'a re-run applies nothing')
  t.equal((await ledger(owner)).length, ALL.length)
})

t.test('two migrators at once apply each migration exactly once', async (t) => {
  const { owner, url } = await database(t)
  const other = createPool(databaseUrlAs(url, 'owner'), { max: 1 })
  t.teardown(() => other.end())
  const [a, b] = await Promise.all([migrate(owner), migrate(other)])
  t.same([...a, ...b].sort(), ALL, 'between them, every migration once')
  t.same((await ledger(owner)).map((r) => r.id), ALL)
})

t.test('a database that applied a migration this leix does not know is refused, naming it', async (t) => {
  const { owner, app, url } = await database(t)
  await migrate(owner)
  await owner.query("INSERT INTO leix_migrations (id, checksum) VALUES ('023-from-a-newer-leix', repeat('0', 64)), ('030-also-newer', NULL)")
  const refusal = { code: 'unknown-migrations', message: /does not know: 023-from-a-newer-leix, 030-also-newer; it was migrated by a newer leix/ }
  await t.rejects(migrate(owner), refusal, 'migrate refuses')
  await t.rejects(unappliedMigrations(app), refusal, 'and so does the app role')
  const config = testConfig(url)
  delete config.migrateDatabaseUrl
  await t.rejects(start(config), { message: /does not know: 023-from-a-newer-leix, 030-also-newer/ }, 'leix refuses to start')
  await t.rejects(start(testConfig(url)), refusal, 'also when it migrates at start')
})

t.test('an applied migration whose checksum differs from the file is refused, naming it', async (t) => {
  const { owner, app } = await database(t)
  await migrate(owner)
  await owner.query("UPDATE leix_migrations SET checksum = repeat('a', 64) WHERE id = '021-witness-cosignatures'")
  const refusal = { code: 'changed-migrations', message: /differ from this leix's files: 021-witness-cosignatures \(applied with SHA-256 a{64}, the file has 144d8643[0-9a-f]{56}\)/ }
  await t.rejects(migrate(owner), refusal, 'migrate refuses')
  await t.rejects(unappliedMigrations(app), refusal, 'and so does start-up')
})

t.test('a database migrated before checksums: the checksums are filled in on the next migrate', async (t) => {
  const { owner, app } = await database(t)
  // The ledger as leix wrote it before: no checksum column; 001-004 applied.
  const before = MIGRATIONS.slice(0, 4)
  await owner.query('CREATE TABLE leix_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())')
  for (const m of before) {
    await owner.query(m.sql)
    await owner.query('INSERT INTO leix_migrations (id) VALUES ($1)', [m.id])
  }
  t.same(await unappliedMigrations(owner), ALL.slice(4), 'read without the column')
  t.same(await migrate(owner), ALL.slice(4), 'the rest applied')
  t.same((await ledger(owner)).filter((r) => r.checksum !== MIGRATIONS.find((m) => m.id === r.id)?.checksum), [], 'every checksum recorded, the old ones backfilled')
  t.same(await unappliedMigrations(app), [])
})

t.test('a failing migration is rolled back and not recorded', async (t) => {
  const { owner } = await database(t)
  const broken: Migration = { id: '999-broken', checksum: '0'.repeat(64), sql: 'CREATE TABLE half_done (id int); SELECT * FROM nowhere' }
  await t.rejects(migrate(owner, [...MIGRATIONS, broken]), { code: 'failed', message: /^migration 999-broken failed: relation "nowhere" does not exist/ })
  t.same((await ledger(owner)).map((r) => r.id), ALL, 'the ones before it stay applied')
  t.equal((await owner.query("SELECT to_regclass('half_done') AS t")).rows[0].t, null, 'nothing of it remains')
})

t.test('readiness with PostgreSQL down says it is unavailable, not that migrations are pending', async (t) => {
  // A loopback port nobody listens on: refused at once, without stopping the shared server.
  const closed = `postgres://leix_app@127.0.0.1:${await freePort()}/leix_nowhere`
  const rt = createRuntime(testConfig(closed))
  const services = await startServices(rt, { workers: false, timers: false })
  const app = await buildApp(rt, services)
  t.teardown(async () => { await app.close(); await services.stop(); await rt.close(); await dropQueueKeys(rt) })
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 503)
  const { checks } = ready.json() as { checks: Record<string, { ok: boolean; reason?: string }> }
  t.match(checks.postgres, { ok: false, reason: /PostgreSQL is unreachable/ })
  t.match(checks.migrations, { ok: false, reason: /^PostgreSQL is unavailable \(.*ECONNREFUSED.*\); the applied migrations cannot be read$/ })
  t.notMatch(checks.migrations?.reason, /pending/)
})
