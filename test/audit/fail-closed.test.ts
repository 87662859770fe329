// Fail closed: while events wait unsealed longer than sealMaxAgeSeconds, intake
// answers 503 audit-unsealed and /health/ready says why; it recovers by itself.
import t from 'tap'
import pg from 'pg'
import { SEAL_LOCK } from '../../src/audit/sealer.ts'
import { createAuditService } from '../../src/audit/service.ts'
import { createRuntime } from '../../src/runtime.ts'
import { databaseUrlAs, dropQueueKeys, requestMessage, sign, submit, testConfig } from '../helpers.ts'
import { auditTestApp, sendRequest } from './fixtures.ts'

const a = await auditTestApp(t, { config: { sealMaxAgeSeconds: 5 } })
const { app, audit, clock, databaseUrl } = a

const ready = async () => (await app.inject('/health/ready')).json().checks['audit-seal'] as { ok: boolean; reason?: string }

/** Another process holding the sealer lock: this one cannot seal (a stuck sealer, as seen from here). */
async function stuckSealer (): Promise<pg.Client> {
  const other = new pg.Client({ connectionString: databaseUrl })
  await other.connect()
  await other.query('SELECT pg_advisory_lock($1)', [SEAL_LOCK])
  return other
}

t.test('events unsealed beyond the limit close intake with 503 and a reason; sealing reopens it', async (t) => {
  await sendRequest(a)
  t.equal((await audit.runOnce()).closed, false)

  const other = await stuckSealer()
  t.teardown(() => other.end().catch(() => {}))
  await sendRequest(a)
  clock.advance(4000)
  t.equal((await audit.runOnce()).closed, false, 'within the limit: open')
  clock.advance(2000)
  const health = await audit.runOnce()
  t.equal(health.closed, true, 'beyond the limit: closed')
  t.equal(health.sealer, 'busy')

  const refused = await submit(app, await sign(requestMessage(clock)))
  t.equal(refused.statusCode, 503)
  t.equal(refused.json().type, 'urn:leix:problem:audit-unsealed')
  t.match(refused.json().detail, /unsealed for 6 s \(limit 5 s\)/)
  t.equal(refused.json().unsealedEvents, 3)
  const check = await ready()
  t.equal(check.ok, false)
  t.match(check.reason, /3 audit event\(s\) unsealed for 6 s \(limit 5 s\); newest checkpoint size 3 at .*; sealer in this process: busy/)
  t.equal((await app.inject('/health/ready')).statusCode, 503)

  await t.test('a gateway-only process (no workers) reaches the same verdict', async (t) => {
    const rt2 = createRuntime(testConfig(databaseUrl, { sealMaxAgeSeconds: 5 }), { clock })
    const gateway = await createAuditService(rt2, { workers: false, autoStart: false })
    t.teardown(async () => { await gateway.stop(); await rt2.close(); await dropQueueKeys(rt2) })
    t.equal(gateway.health().closed, true, 'known at start, before any request')
    t.equal(gateway.gate?.()?.code, 'audit-unsealed')
  })

  await other.query('SELECT pg_advisory_unlock($1)', [SEAL_LOCK])
  const recovered = await audit.runOnce()
  t.equal(recovered.closed, false, 'the sealer got the lock back and sealed')
  t.equal(recovered.unsealed, 0)
  t.equal(recovered.latestCheckpoint?.treeSize, 6)
  t.equal((await ready()).ok, true)
  t.equal((await submit(app, await sign(requestMessage(clock)))).statusCode, 202, 'intake accepts again')
})

t.test('a quiet period does not close intake: only waiting events age', async (t) => {
  await audit.runOnce()
  clock.advance(3600_000)
  t.equal((await audit.check()).closed, false, 'an hour-old checkpoint with nothing waiting is fine')
  await sendRequest(a)
  t.equal((await audit.check()).closed, false, 'a fresh event after the quiet hour is fine')
  t.equal((await audit.runOnce()).unsealed, 0)
})

t.test('a failing sealer (not just a busy one) also closes intake, with its error', async (t) => {
  // A checkpoint already stored for the next size: the sealer's insert must fail (never two roots).
  const next = (await audit.runOnce()).latestCheckpoint!.treeSize + 3
  // As the sealer role: the only one allowed to insert checkpoints.
  const forged = new pg.Client({ connectionString: databaseUrlAs(databaseUrl, 'sealer') })
  await forged.connect()
  await forged.query("INSERT INTO audit_checkpoints (tree_size, root_hash, jws, created_at) VALUES ($1, '\\x00', 'x.y.z', now())", [next])
  await forged.end()
  await sendRequest(a)
  clock.advance(6000)
  const health = await audit.runOnce()
  t.equal(health.closed, true)
  t.match(health.sealer, /^error: .*audit_checkpoints_pkey/)
  t.match((await ready()).reason, /sealer in this process: error/)
  t.equal((await submit(app, await sign(requestMessage(clock)))).statusCode, 503)
})
