// PostgreSQL faults never end a leix process: connections terminated under load (on the shared
// server, this file's own database), the server stopped and started again (a private cluster),
// and a process started while PostgreSQL is down (it waits, or exits 2 saying what to check).
// Every line the processes print is pino JSON. Real processes, real PostgreSQL, real Redis.
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import t from 'tap'
import { systemClock } from '../../src/config/clock.ts'
import { createPool, isConnectionError, withClient, withTransaction } from '../../src/store/db.ts'
import { freePort, kill, spawnLeix, startPostgresCluster, waitRunning, waitUntil, type LeixProcess } from '../../scripts/chaos/services.ts'
import { createTestDatabase, databaseUrlAs, REDIS_URL, requestMessage, sign } from '../helpers.ts'
import { setUpDatabase } from '../../src/store/roles.ts'
import { dropKeys, startRecipient, writeDirectory } from '../delivery/helpers.ts'

const recipient = await startRecipient(t)
const directoryPath = writeDirectory(t, { 'RS-MUP': { webhook: recipient.url } })
const received = () => new Set(recipient.messages.map((r) => String(r.headers['leix-message-id'])))

function env (databaseUrl: string, port: number, prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl, LEIX_MIGRATE_DATABASE_URL: databaseUrlAs(databaseUrl, 'owner'), REDIS_URL, LEIX_QUEUE_PREFIX: prefix, LEIX_DIRECTORY: directoryPath, LEIX_DEV_KEYS: 'true',
    LEIX_ALLOW_LOOPBACK_HTTP: 'true', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', LEIX_METRICS_PORT: '0',
    LEIX_CHECKPOINT_INTERVAL_MS: '200', LEIX_RECONCILE_INTERVAL_MS: '500', LEIX_DELIVERY_BACKOFF_MS: '50', LEIX_DELIVERY_TIMEOUT_MS: '2000',
    ...extra,
  }
}

async function post (url: string): Promise<{ id: string; status: number; body: Record<string, unknown>; retryAfter: string | null }> {
  const message = requestMessage(systemClock)
  const res = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/jose' }, body: await sign(message) })
  return { id: message.id, status: res.status, body: (await res.json()) as Record<string, unknown>, retryAfter: res.headers.get('retry-after') }
}

function nonJsonLines (p: LeixProcess): string[] {
  return p.output().split('\n').filter((line) => line.trim() && !line.startsWith('leix worker running')).filter((line) => {
    try { JSON.parse(line); return false } catch { return true }
  })
}

t.test('a client whose connection is terminated fails its unit of work; nothing is left to crash the process', async (t) => {
  const databaseUrl = await createTestDatabase(t)
  const pool = createPool(databaseUrl, { max: 2 })
  t.teardown(() => pool.end())
  const admin = new pg.Client({ connectionString: databaseUrlAs(databaseUrl, 'admin') })
  await admin.connect()
  t.teardown(() => admin.end())
  const terminateOthers = () => admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')
  // Terminated mid-query, inside a checkout and inside a transaction: the work fails with a
  // connection error (an uncaught 'error' event would end this test process instead).
  for (const run of [withClient, withTransaction]) {
    let pid: number | undefined
    // The outcome is taken at once: the rejection may come while the termination is still running.
    const outcome = run(pool, async (c) => {
      pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid
      return c.query('SELECT pg_sleep(30)')
    }).then(() => undefined, (e: unknown) => e)
    await waitUntil('the query to run', async () => pid !== undefined &&
      (await admin.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query = 'SELECT pg_sleep(30)' AND state = 'active'", [pid])).rowCount)
    await admin.query('SELECT pg_terminate_backend($1)', [pid])
    const err = await outcome
    t.ok(isConnectionError(err), `${run.name} failed with a connection error: ${(err as Error).message}`)
  }
  // Every client keeps an 'error' listener whatever its state: checked out, idle, or removed
  // from the pool after an error (pg emits more than one 'error' for one lost connection).
  const client = await pool.connect()
  t.ok(client.listenerCount('error') > 0, 'checked out')
  client.release(new Error('discard'))
  t.ok(client.listenerCount('error') > 0, 'removed from the pool')
  t.doesNotThrow(() => client.emit('error', new Error('a late error from a discarded client')))
  const idle = await pool.connect()
  idle.release()
  await terminateOthers()
  // The idle client may be handed out before its error arrives: that one query fails, the next works.
  const first = await pool.query('SELECT 1 AS one').then(() => undefined, (e: unknown) => e)
  t.ok(first === undefined || isConnectionError(first), 'at most one query fails, with a connection error')
  t.equal((await pool.query('SELECT 1 AS one')).rows[0].one, 1, 'the pool works again')
})

t.test('connections terminated under load: the process lives on and every accepted message is delivered', async (t) => {
  const databaseUrl = await createTestDatabase(t)
  const prefix = `leixtest-${randomUUID().slice(0, 8)}`
  t.teardown(() => dropKeys(REDIS_URL, prefix))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const serve = spawnLeix('serve', env(databaseUrl, port, prefix))
  t.teardown(() => kill(serve))
  await waitRunning(serve, url, 90_000)

  const admin = new pg.Client({ connectionString: databaseUrlAs(databaseUrl, 'admin') })
  await admin.connect()
  t.teardown(() => admin.end())
  const database = new URL(databaseUrl).pathname.slice(1)
  const accepted: string[] = []
  let unavailable = 0
  for (let round = 0; round < 3; round++) {
    const sends = Array.from({ length: 20 }, () => post(url))
    // Terminate every leix connection while those requests (and deliveries) are in flight.
    const { rowCount } = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database])
    t.ok((rowCount ?? 0) > 0, `round ${round}: connections terminated`)
    for (const r of await Promise.all(sends)) {
      if (r.status === 202) accepted.push(r.id)
      else {
        t.equal(r.status, 503, `a failed request is a 503, not a 500 (${JSON.stringify(r.body)})`)
        t.equal(r.body.code, 'unavailable')
        t.ok(r.retryAfter, 'with Retry-After')
        unavailable++
      }
    }
  }
  t.ok(accepted.length > 0, `${accepted.length} accepted, ${unavailable} answered 503`)
  await waitUntil('every accepted message delivered', () => accepted.every((id) => received().has(id)), 60_000)
  t.ok(serve.alive(), 'the process is still running')
  t.same(nonJsonLines(serve), [], 'every line it printed is JSON')
  t.equal((await kill(serve, 'SIGTERM')).code, 0, 'and it stops cleanly')
})

t.test('PostgreSQL stopped and started again; processes started while it is down', async (t) => {
  const cluster = await startPostgresCluster()
  t.teardown(() => cluster.destroy())
  // A password in the URL (trust authentication ignores it) must never be printed.
  const databaseUrl = `postgres://leix_app:s3cret-pw@127.0.0.1:${cluster.port}/leix_faults`
  await setUpDatabase(`postgres://postgres@127.0.0.1:${cluster.port}/postgres`, { owner: { user: 'leix_owner' }, app: { user: 'leix_app' }, sealer: { user: 'leix_sealer' } }, 'leix_faults')
  const prefix = `leixtest-${randomUUID().slice(0, 8)}`
  t.teardown(() => dropKeys(REDIS_URL, prefix))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const serve = spawnLeix('serve', env(databaseUrl, port, prefix))
  t.teardown(() => kill(serve))
  await waitRunning(serve, url, 90_000)
  const first = await post(url)
  t.equal(first.status, 202, JSON.stringify(first.body))

  cluster.stop()
  const refused = await post(url)
  t.equal(refused.status, 503, 'intake answers 503 while PostgreSQL is down')
  t.equal(refused.body.code, 'unavailable')
  t.equal(refused.retryAfter, '5', 'with Retry-After')
  const ready = await fetch(`${url}/health/ready`)
  t.equal(ready.status, 503)
  const checks = ((await ready.json()) as { checks: Record<string, { ok: boolean; reason?: string }> }).checks
  t.match(checks.postgres, { ok: false, reason: /PostgreSQL is unreachable/ }, 'readiness says why')

  // Started while PostgreSQL is down: with no wait it exits 2 naming the service and address...
  const impatient = spawnLeix('worker', env(databaseUrl, 0, prefix, { LEIX_STARTUP_WAIT: '0' }))
  const gaveUp = await impatient.exited
  t.equal(gaveUp.code, 2, 'exit code 2')
  t.match(impatient.output(), /PostgreSQL at postgres:\/\/leix_app:\*\*\*@127\.0\.0\.1:\d+\/leix_faults is unreachable .*check that PostgreSQL runs/)
  t.notMatch(impatient.output(), /s3cret-pw/, 'without the password')
  // ... and with a wait, it waits and starts once PostgreSQL is back.
  const patient = spawnLeix('worker', env(databaseUrl, 0, prefix, { LEIX_STARTUP_WAIT: '60' }))
  t.teardown(() => kill(patient))
  await waitUntil('the worker to say it waits', () => patient.output().includes('waiting for PostgreSQL'), 90_000)

  await new Promise((resolve) => setTimeout(resolve, 1500)) // loops tick against the stopped server
  cluster.start()
  await waitRunning(patient, undefined, 90_000)
  await waitUntil('intake to accept again', async () => (await post(url)).status === 202, 30_000)
  const later = await post(url)
  t.equal(later.status, 202)
  await waitUntil('the messages from before and after delivered', () => received().has(first.id) && received().has(later.id), 60_000)
  t.equal((await fetch(`${url}/health/ready`)).status, 200, 'ready again')
  t.ok(serve.alive() && patient.alive(), 'no process ended')
  t.same(nonJsonLines(serve), [], 'serve printed JSON lines only')
  t.same(nonJsonLines(patient), [], 'the worker printed JSON lines only')
  t.match(serve.output(), /postgres unreachable; retrying/, 'the outage was logged')
  t.equal((await kill(serve, 'SIGTERM')).code, 0)
  t.equal((await kill(patient, 'SIGTERM')).code, 0)
})
