// `leix serve` at start-up, in-process: an unreachable PostgreSQL or Redis and a taken port each
// name the service, its configured address without the password and what to check, and exit 2
// at once (LEIX_STARTUP_WAIT=0), with no stack trace; development mode says so first.
import { createServer } from 'node:net'
import { once } from 'node:events'
import t from 'tap'
import { createTestDatabase, migrateTestDatabase, testConfig } from '../helpers.ts'
import { leix } from './run.ts'

const DEV = { LEIX_DEV_KEYS: 'true', LEIX_STARTUP_WAIT: '0', LOG_LEVEL: 'silent', HOST: '127.0.0.1' }
const NO_STACK = /\n\s+at /

t.test('unreachable DATABASE_URL: PostgreSQL, its address without password, what to check, exit 2', async (t) => {
  const r = await leix(['serve'], { ...DEV, DATABASE_URL: 'postgres://leix_app:s3cret@127.0.0.1:5999/leix', PORT: '0' })
  t.equal(r.code, 2)
  t.match(r.stderr, /leix: PostgreSQL at postgres:\/\/leix_app:\*\*\*@127\.0\.0\.1:5999\/leix is unreachable \(.*ECONNREFUSED.*\); check that PostgreSQL runs and accepts connections there, and DATABASE_URL/)
  t.notMatch(r.stderr, /s3cret/)
  t.notMatch(r.stderr, NO_STACK)
})

t.test('development mode announces itself before anything else, as a warning log line', async (t) => {
  const r = await leix(['serve'], { ...DEV, LOG_LEVEL: 'info', DATABASE_URL: 'postgres://leix_app@127.0.0.1:5999/leix', PORT: '0' })
  const first = JSON.parse(r.stderr.split('\n')[0]!)
  t.equal(first.level, 40)
  t.match(first.msg, /^development mode \(LEIX_DEV_KEYS=true\)/)
})

t.test('a migrated database, then Redis or the port fails', async (t) => {
  const config = testConfig(await createTestDatabase(t))
  await migrateTestDatabase(config)
  const env = {
    ...DEV, DATABASE_URL: config.databaseUrl, LEIX_SEALER_DATABASE_URL: config.sealerDatabaseUrl, REDIS_URL: config.redisUrl,
    LEIX_QUEUE_PREFIX: config.queuePrefix, LEIX_DIRECTORY: config.directoryPath,
  }

  t.test('unreachable REDIS_URL: Redis, its address without password, one line, exit 2', async (t) => {
    const r = await leix(['worker'], { ...env, REDIS_URL: 'redis://:pw-secret@127.0.0.1:6999' })
    t.equal(r.code, 2, r.stderr)
    t.match(r.stderr, /leix: Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:6999 is unreachable \(.*\); check that redis-server runs there, and REDIS_URL/)
    t.notMatch(r.stderr, /pw-secret/)
    t.notMatch(r.stderr, NO_STACK)
    t.notMatch(r.stderr, /MaxRetriesPerRequestError/)
  })

  t.test('a taken port: the address, what to check, exit 2', async (t) => {
    const taken = createServer()
    taken.listen(0, '127.0.0.1')
    await once(taken, 'listening')
    t.teardown(() => new Promise((resolve) => taken.close(resolve)))
    const port = (taken.address() as { port: number }).port
    const r = await leix(['gateway'], { ...env, PORT: String(port) })
    t.equal(r.code, 2, r.stderr)
    t.match(r.stderr, `leix: the gateway cannot listen on 127.0.0.1:${port}: the port is taken (EADDRINUSE); check PORT and HOST`)
    t.notMatch(r.stderr, NO_STACK)
  })
})
