import t from 'tap'
import { writeFileSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, ConfigError, migrationUrl } from '../../src/config/config.ts'
import { loadBrokerKey } from '../../src/config/keys.ts'
import { loadDirectory, DirectoryError } from '../../src/directory/load.ts'

// Outside development mode the directory and the token audience have no defaults.
const PRODUCTION = { LEIX_DIRECTORY: '/etc/leix/directory.json', LEIX_TOKEN_AUDIENCE: 'https://leix.example' }

t.test('defaults are sensible for a local run', async (t) => {
  t.throws(() => loadConfig({}), { name: 'ConfigError', message: /LEIX_TOKEN_AUDIENCE/ }, 'no default audience outside development mode')
  t.throws(() => loadConfig({ LEIX_TOKEN_AUDIENCE: 'x' }), { name: 'ConfigError', message: /LEIX_DIRECTORY/ }, 'no default directory outside development mode')
  t.equal(loadConfig({ LEIX_DEV_KEYS: 'true' }).directoryPath, 'config/directory.sample.json', 'the sample directory in development mode only')
  const c = loadConfig(PRODUCTION)
  t.equal(c.port, 8080)
  t.equal(c.databaseUrl, 'postgres://leix_app@127.0.0.1:5432/leix', 'the app role, never a superuser')
  t.equal(c.sealerDatabaseUrl, 'postgres://leix_sealer@127.0.0.1:5432/leix')
  t.equal(c.migrateDatabaseUrl, undefined, 'serve does not migrate unless asked')
  t.equal(migrationUrl(c), 'postgres://leix_owner@127.0.0.1:5432/leix')
  t.equal(c.devKeys, false, 'development keys are off unless asked for')
  t.equal(c.bodyLimitBytes, 262144)
})

t.test('the sealer and owner URLs default to DATABASE_URL with their user and no password', async (t) => {
  const c = loadConfig({ ...PRODUCTION, DATABASE_URL: 'postgres://svc:secret@db.example:6432/broker?sslmode=require' })
  t.equal(c.sealerDatabaseUrl, 'postgres://leix_sealer@db.example:6432/broker?sslmode=require')
  t.equal(migrationUrl(c), 'postgres://leix_owner@db.example:6432/broker?sslmode=require')
  const explicit = loadConfig({ ...PRODUCTION, LEIX_SEALER_DATABASE_URL: 'postgres://s:p@h/d', LEIX_MIGRATE_DATABASE_URL: 'postgres://o:p@h/d' })
  t.equal(explicit.sealerDatabaseUrl, 'postgres://s:p@h/d')
  t.equal(migrationUrl(explicit), 'postgres://o:p@h/d')
  t.throws(() => loadConfig({ ...PRODUCTION, LEIX_SEALER_DATABASE_URL: 'mysql://x' }), { message: /sealerDatabaseUrl \(LEIX_SEALER_DATABASE_URL\)/ })
})

t.test('environment values are converted and validated; a bad one names its field and variable', async (t) => {
  t.equal(loadConfig({ PORT: '9000', LEIX_DEV_KEYS: 'true' }).port, 9000)
  t.throws(() => loadConfig({ ...PRODUCTION, PORT: 'eighty' }), { name: 'ConfigError', message: /port \(PORT\)/ })
  t.throws(() => loadConfig({ DATABASE_URL: 'mysql://x' }), { message: /databaseUrl \(DATABASE_URL\)/ })
  t.throws(() => loadConfig({ LEIX_ROLE: 'everything' }), { message: /role \(LEIX_ROLE\)/ })
  t.throws(() => loadConfig({ LEIX_TLS_CERT: '/x.pem' }), ConfigError, 'cert without key')
})

t.test('no broker key and no dev keys: refuse to start', async (t) => {
  t.throws(() => loadBrokerKey(loadConfig(PRODUCTION)), { message: /LEIX_BROKER_KEY/ })
  t.equal(loadBrokerKey(loadConfig({ LEIX_DEV_KEYS: 'true' })).alg, 'EdDSA')
})

t.test('the sample directory loads; a bad directory names the bad field', async (t) => {
  const sample = new URL('../../config/directory.sample.json', import.meta.url).pathname
  const d = loadDirectory(sample)
  t.same(d.instruments.get('PCC-SEE')?.parties, ['AL', 'AT', 'BA', 'BG', 'HU', 'MD', 'ME', 'MK', 'RO', 'RS', 'SI'], 'PCC-SEE parties as of 2016; Kosovo is not one')
  t.notOk(d.instruments.get('EU-2023/977')?.parties.some((c) => ['AL', 'BA', 'XK', 'ME', 'MK', 'RS'].includes(c)), 'EU-2023/977 is for member states only')
  for (const id of ['AL-ASP', 'BA-DKPT', 'XK-KP', 'ME-UP', 'MK-MVR', 'RS-MUP', 'EU-EUROPOL']) t.ok(d.agencies.get(id), id)
  const dir = mkdtempSync(join(tmpdir(), 'leix-dir-'))
  const doc = JSON.parse(readFileSync(sample, 'utf8'))
  const write = (v: unknown) => { const p = join(dir, `${Math.random()}.json`); writeFileSync(p, JSON.stringify(v)); return p }
  const withPrivate = structuredClone(doc)
  withPrivate.agencies[0].jwks.keys[0].d = 'secret'
  t.throws(() => loadDirectory(write(withPrivate)), { name: 'DirectoryError', message: /\/agencies\/0\/jwks\/keys\/0\/d/ }, 'private key material refused')
  const duplicateKid = structuredClone(doc)
  duplicateKid.agencies[1].jwks.keys.push(duplicateKid.agencies[0].jwks.keys[0])
  t.throws(() => loadDirectory(write(duplicateKid)), { message: /kid AL-ASP-dev-1 is already used by AL-ASP/ })
  const plainWebhook = structuredClone(doc)
  plainWebhook.agencies[0].delivery = { mode: 'push', webhook: 'http://police.example/hook' }
  t.throws(() => loadDirectory(write(plainWebhook)), { message: /must be https/ })
  const wrongCountry = structuredClone(doc)
  wrongCountry.agencies[0].country = 'RS'
  t.throws(() => loadDirectory(write(wrongCountry)), DirectoryError)
  t.throws(() => loadDirectory(join(dir, 'missing.json')), { message: /ENOENT/ })
})

t.test('D7 instrument caps: maxRetention in the law\'s units; an older maxRetentionDays reads as days', async (t) => {
  const sample = new URL('../../config/directory.sample.json', import.meta.url).pathname
  t.same(loadDirectory(sample).instruments.get('PCC-SEE')?.maxRetention, { years: 5 })
  const dir = mkdtempSync(join(tmpdir(), 'leix-dir-'))
  const doc = JSON.parse(readFileSync(sample, 'utf8'))
  const write = (v: unknown) => { const p = join(dir, `${Math.random()}.json`); writeFileSync(p, JSON.stringify(v)); return p }
  const cases: Array<[entry: Record<string, unknown>, expected: unknown]> = [
    [{ maxRetentionDays: 1825 }, { days: 1825 }],
    [{ maxRetention: { years: 1, months: 6 } }, { years: 1, months: 6 }],
    [{ maxRetention: {} }, DirectoryError],
    [{ maxRetention: { weeks: 3 } }, DirectoryError],
    [{ maxRetention: { years: 5 }, maxRetentionDays: 1825 }, DirectoryError],
    [{}, DirectoryError],
    [{ maxRetention: { years: 5 }, reviewBody: 'XX-NOBODY' }, DirectoryError],
    [{ maxRetention: { years: 5 }, reviewBody: 'EU-EUROPOL' }, { years: 5 }],
  ]
  for (const [entry, expected] of cases) {
    const edited = structuredClone(doc)
    const { maxRetention: _cap, ...rest } = edited.instruments[0]
    edited.instruments[0] = { ...rest, ...entry }
    if (expected === DirectoryError) t.throws(() => loadDirectory(write(edited)), DirectoryError, JSON.stringify(entry))
    else t.same(loadDirectory(write(edited)).instruments.get(edited.instruments[0].id)?.maxRetention, expected, JSON.stringify(entry))
  }
})
