// The docker-compose way, on a PostgreSQL of our own that demands passwords (scram-sha-256), not
// the trust authentication of the shared test server: `leix db roles` creates the three roles
// with the passwords of their URLs, `leix migrate` runs as the owner, and leix starts as the app
// and sealer roles; a wrong password is named with its variable.
import t from 'tap'
import { execFile } from 'node:child_process'
import { chownSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { start } from '../../src/server.ts'
import { setUpDatabase } from '../../src/store/roles.ts'
import { freePort, ROOT, testConfig } from '../helpers.ts'
import { childEnv } from '../../scripts/chaos/services.ts'

const run = promisify(execFile)
const version = readdirSync('/usr/lib/postgresql').sort().at(-1)
const bin = (name: string): string => `/usr/lib/postgresql/${version}/bin/${name}`
// initdb refuses to run as root: run the server as the postgres system user then.
const asPostgres = (cmd: string, args: string[]) =>
  process.getuid?.() === 0 ? run('runuser', ['-u', 'postgres', '--', cmd, ...args]) : run(cmd, args)

const dir = mkdtempSync(join(tmpdir(), 'leix-pg-'))
const port = await freePort()
writeFileSync(join(dir, 'pw'), 'admin-secret\n')
if (process.getuid?.() === 0) {
  const { stdout } = await run('id', ['-u', 'postgres'])
  const { stdout: gid } = await run('id', ['-g', 'postgres'])
  chownSync(dir, Number(stdout), Number(gid))
  chownSync(join(dir, 'pw'), Number(stdout), Number(gid))
}
await asPostgres(bin('initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${join(dir, 'pw')}`, '--no-sync'])
await asPostgres(bin('pg_ctl'), ['-D', join(dir, 'data'), '-w', '-l', join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start'])
t.teardown(async () => {
  await asPostgres(bin('pg_ctl'), ['-D', join(dir, 'data'), '-m', 'immediate', 'stop']).catch(() => {})
  rmSync(dir, { recursive: true, force: true })
})

const server = `127.0.0.1:${port}`
const env = {
  ...childEnv(),
  LEIX_DIST: '',
  LEIX_ADMIN_DATABASE_URL: `postgres://postgres:admin-secret@${server}/postgres`,
  DATABASE_URL: `postgres://leix_app:app-secret@${server}/leix`,
  LEIX_SEALER_DATABASE_URL: `postgres://leix_sealer:sealer-secret@${server}/leix`,
  LEIX_MIGRATE_DATABASE_URL: `postgres://leix_owner:owner-secret@${server}/leix`,
}
const leix = (...args: string[]) => run(process.execPath, [new URL('bin/leix.js', ROOT).pathname, ...args], { env, cwd: new URL('.', ROOT).pathname })

t.test('db roles, migrate as the owner, start as the app and sealer roles, all with passwords', async (t) => {
  t.match((await leix('db', 'roles')).stdout, /are ready/)
  await setUpDatabase(env.LEIX_ADMIN_DATABASE_URL, {
    owner: { user: 'leix_owner', password: 'owner-secret' }, app: { user: 'leix_app', password: 'app-secret' }, sealer: { user: 'leix_sealer', password: 'sealer-secret' },
  }, 'leix') // again: idempotent
  t.match((await leix('migrate')).stdout, /applied: .*005-least-privilege/)

  const config = testConfig(env.DATABASE_URL, { sealerDatabaseUrl: env.LEIX_SEALER_DATABASE_URL, port: 0 })
  delete config.migrateDatabaseUrl
  const started = await start(config)
  t.teardown(() => started.stop())
  const ready = await started.app!.inject('/health/ready')
  t.equal(ready.statusCode, 200, ready.body)
  t.same(ready.json().checks['database-roles'], { ok: true })
})

t.test('a wrong or missing password is refused, naming the variable', async (t) => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ['wrong sealer password', { sealerDatabaseUrl: env.LEIX_SEALER_DATABASE_URL.replace('sealer-secret', 'guess') }, /LEIX_SEALER_DATABASE_URL: password authentication failed for user "leix_sealer"/],
    ['no app password', { databaseUrl: env.DATABASE_URL.replace(':app-secret', '') }, /DATABASE_URL: .*password/],
  ]
  for (const [name, override, message] of cases) {
    const config = { ...testConfig(env.DATABASE_URL, { sealerDatabaseUrl: env.LEIX_SEALER_DATABASE_URL, port: 0 }), ...override }
    delete config.migrateDatabaseUrl
    const error = await start(config).then(async (s) => { await s.stop(); return undefined }, (err: unknown) => err as Error)
    t.match(error?.message, message, name)
  }
})
