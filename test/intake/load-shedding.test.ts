import t from 'tap'
import { buildTestApp, sign, submit, requestMessage, count, databaseUrlAs } from '../helpers.ts'
import { createPool } from '../../src/store/db.ts'

// Burst behaviour: above what the gateway sustains it refuses at once with 503 overloaded and
// Retry-After (problem+json) rather than queueing; whatever it answered 202 is durable, whatever
// it shed left no trace. The overload is induced: the messages table is held locked, so every
// submission waits for its commit, and the threshold on waiting commits is low.

const PENDING = 3
const { app, rt, clock, databaseUrl } = await buildTestApp(t, { config: { shedPendingIntake: PENDING, shedPoolWaiting: 0, shedEventLoopDelayMs: 0 } })
const owner = createPool(databaseUrlAs(databaseUrl, 'owner'), { max: 2 })
t.teardown(async () => { await owner.end() })

const tick = async (ms: number) => { await new Promise((resolve) => setTimeout(resolve, ms)) }

t.test('a burst over the threshold is shed with 503 + Retry-After; every 202 is durable, every 503 absent', async (t) => {
  const locker = await owner.connect()
  await locker.query('BEGIN')
  await locker.query('LOCK TABLE messages IN ACCESS EXCLUSIVE MODE')
  const sent: { id: string; answer: Promise<Awaited<ReturnType<typeof submit>>> }[] = []
  const send = async () => {
    const m = requestMessage(clock)
    const entry = { id: m.id as string, answer: submit(app, await sign(m)) }
    sent.push(entry)
    return entry
  }
  // The first submissions are admitted and wait for their commit behind the lock.
  for (let i = 0; i <= PENDING; i++) await send()
  // Within a few health-check rounds the gateway notices the backlog and sheds; wait for that.
  let shed: Awaited<ReturnType<typeof submit>> | undefined
  for (let i = 0; i < 200 && !shed; i++) {
    await tick(25)
    const { answer } = await send()
    const res = await Promise.race([answer, tick(50).then(() => undefined)])
    if (res?.statusCode === 503) shed = res
  }
  t.ok(shed, 'a submission was shed')
  t.equal(shed?.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.equal(shed?.json().code, 'overloaded')
  t.match(shed?.headers['retry-after'], /^\d+$/, 'with Retry-After')
  t.equal((await app.inject('/health/live')).statusCode, 200, 'health probes are not shed')
  const metric = await rt.metrics.shed.get()
  t.ok(metric.values.some((v) => v.labels.reason === 'healthCheck' && v.value >= 1), 'counted in leix_requests_shed_total')

  await locker.query('ROLLBACK')
  locker.release()
  const answers = await Promise.all(sent.map(async (s) => ({ id: s.id, res: await s.answer })))
  const accepted = answers.filter((a) => a.res.statusCode === 202)
  const refused = answers.filter((a) => a.res.statusCode === 503)
  t.equal(accepted.length + refused.length, answers.length, 'every answer is 202 or 503')
  t.ok(accepted.length >= PENDING, 'the submissions admitted before the backlog were accepted')
  t.ok(refused.length >= 1, 'and some were shed')
  for (const a of accepted) t.equal(await count(rt, 'SELECT 1 FROM messages WHERE id = $1', [a.id]), 1, `${a.id}: 202 and stored`)
  for (const r of refused) {
    t.equal(r.res.json().code, 'overloaded')
    t.equal(await count(rt, 'SELECT 1 FROM messages WHERE id = $1', [r.id]), 0, `${r.id}: shed and not stored`)
    t.equal(await count(rt, 'SELECT 1 FROM audit_events WHERE message_id = $1', [r.id]), 0, `${r.id}: and not recorded`)
  }

  // Once the backlog is committed the gateway takes submissions again.
  let again: number | undefined
  for (let i = 0; i < 200 && again !== 202; i++) {
    await tick(25)
    const { answer } = await send()
    again = (await answer).statusCode
  }
  t.equal(again, 202, 'accepted again after the backlog cleared')
})
