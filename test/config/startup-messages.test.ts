// Configuration errors an operator meets first: every missing setting in one report, LEIX_CONFIG
// keyed by the variables README names, and keys given in the wrong shape named as such.
import t from 'tap'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig } from '../../src/config/config.ts'
import { loadBrokerKey, loadTokenKeys } from '../../src/config/keys.ts'

const dir = mkdtempSync(join(tmpdir(), 'leix-config-'))
const write = (name: string, value: unknown): string => {
  const path = join(dir, name)
  writeFileSync(path, JSON.stringify(value))
  return path
}
const DEV = new URL('../../config/dev/', import.meta.url)
const devPublic = JSON.parse(readFileSync(new URL('token-issuer.DEV-ONLY.public.jwk.json', DEV), 'utf8'))
const devPrivate = JSON.parse(readFileSync(new URL('token-issuer.DEV-ONLY.private.jwk.json', DEV), 'utf8'))

t.test('every missing setting of a server process is reported at once', async (t) => {
  const err = t.throws(() => loadConfig({}, {}, { server: true })) as ConfigError
  t.type(err, ConfigError)
  for (const name of ['LEIX_TOKEN_AUDIENCE', 'LEIX_DIRECTORY', 'LEIX_BROKER_KEY', 'LEIX_TOKEN_JWKS']) t.match(err.message, name, name)
  t.match(err.message, /tokenAudience \(LEIX_TOKEN_AUDIENCE\): missing/)
  t.match(err.message, /LEIX_DEV_KEYS=true/, 'says where the defaults went')
  t.doesNotThrow(() => loadConfig({ LEIX_DEV_KEYS: 'true' }, {}, { server: true }), 'development mode has every default')
})

t.test('LEIX_CONFIG accepts the variable names README documents, and the schema fields', async (t) => {
  const byVariable = write('by-variable.json', {
    DATABASE_URL: 'postgres://leix_app@db.example:5432/leix', PORT: 9090, LEIX_SUPERVISORS: 'EU-EUROPOL/s1, AT-BK/s2', LEIX_DEV_KEYS: true,
  })
  const c = loadConfig({ LEIX_CONFIG: byVariable })
  t.equal(c.databaseUrl, 'postgres://leix_app@db.example:5432/leix')
  t.equal(c.port, 9090)
  t.same(c.supervisors, ['EU-EUROPOL/s1', 'AT-BK/s2'])
  const byField = write('by-field.json', { databaseUrl: 'postgres://leix_app@db2.example/leix', devKeys: true })
  t.equal(loadConfig({ LEIX_CONFIG: byField }).databaseUrl, 'postgres://leix_app@db2.example/leix')
  const unknown = write('unknown.json', { DATABASE_ULR: 'x', devKeys: true })
  t.throws(() => loadConfig({ LEIX_CONFIG: unknown }), { message: /DATABASE_ULR: must NOT have additional properties/ })
})

t.test('LEIX_TOKEN_PUBLIC_KEY: a JWKS of one key is that key; of several, named as such', async (t) => {
  const one = write('one.jwks.json', { keys: [devPublic] })
  const keys = loadTokenKeys(loadConfig({ LEIX_DEV_KEYS: 'true', LEIX_TOKEN_PUBLIC_KEY: one }))
  t.equal(keys.publicJwks?.length, 1)
  t.equal(keys.publicJwks?.[0]?.kid, devPublic.kid)
  const two = write('two.jwks.json', { keys: [devPublic, { ...devPublic, kid: 'other' }] })
  t.throws(() => loadTokenKeys(loadConfig({ LEIX_DEV_KEYS: 'true', LEIX_TOKEN_PUBLIC_KEY: two })), {
    message: /LEIX_TOKEN_PUBLIC_KEY\): a JWKS of 2 keys was given where one key is expected; name it in LEIX_TOKEN_JWKS instead/,
  })
})

t.test('a private key in a public place, and a public key or a JWKS where the private key belongs', async (t) => {
  const withD = write('private.jwks.json', { keys: [devPrivate] })
  t.throws(() => loadTokenKeys(loadConfig({ LEIX_DEV_KEYS: 'true', LEIX_TOKEN_JWKS: withD })), {
    message: /\(LEIX_TOKEN_JWKS\): a private key was given where a public key belongs/,
  })
  const publicBroker = write('broker-public.json', devPublic)
  t.throws(() => loadBrokerKey(loadConfig({ LEIX_DEV_KEYS: 'true', LEIX_BROKER_KEY: publicBroker })), {
    message: /LEIX_BROKER_KEY: a public key was given where the private key belongs/,
  })
  const jwksBroker = write('broker-jwks.json', { keys: [devPrivate] })
  t.throws(() => loadBrokerKey(loadConfig({ LEIX_DEV_KEYS: 'true', LEIX_BROKER_KEY: jwksBroker })), {
    message: /LEIX_BROKER_KEY: a JWKS \(a set of keys\) was given where one private JWK is expected/,
  })
})
