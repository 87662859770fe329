// Worker processes that die or are stopped with deliveries in flight: `leix worker` children
// killed with SIGKILL mid-delivery (another worker finishes the job) and stopped with SIGTERM
// (in-flight deliveries finish, the rest stays queued, a restart delivers it). Wall-clock time:
// the children and this process share the system clock.
import t from 'tap'
import { systemClock } from '../../src/config/clock.ts'
import { startDelivery } from '../../src/delivery/service.ts'
import { count, requestMessage, sign, submit } from '../helpers.ts'
import { deliveryApp, messageStatus, spawnWorker, startRecipient, waitFor, workerEnv, writeDirectory } from './helpers.ts'

const recipient = await startRecipient(t)
const directoryPath = writeDirectory(t, { 'RS-MUP': { webhook: recipient.url } })
// The gateway side runs here without workers; the workers are child processes (and, once, this one).
const d = await deliveryApp(t, {
  clock: systemClock,
  workers: false,
  config: { directoryPath, deliveryTimeoutMs: 3000, deliveryLockMs: 1000, deliveryStalledIntervalMs: 500, workerConcurrency: 2 },
})
const { app, rt } = d
const receivedFor = (id: string) => recipient.messages.filter((r) => r.headers['leix-message-id'] === id)
const attemptOf = (r: { headers: Record<string, unknown> }) => JSON.parse(Buffer.from(String(r.headers['leix-delivery-signature']).split('.')[1]!, 'base64url').toString()).attempt

t.test('a worker killed (SIGKILL) mid-delivery: another worker finishes the job', async (t) => {
  // The first POST of the message never gets an answer; the worker dies waiting for it.
  recipient.answer = (r) => (receivedFor(String(r.headers['leix-message-id'])).length === 1 ? 'hang' : 200)
  const worker = await spawnWorker(t, workerEnv(d))
  const message = requestMessage(rt.clock)
  const { exchangeId } = (await submit(app, await sign(message))).json()
  await waitFor('the POST in flight', () => receivedFor(message.id).length === 1)
  worker.child.kill('SIGKILL')
  await worker.exited
  t.match(await rt.pool.query('SELECT attempt, ended_at FROM deliveries WHERE message_id = $1', [message.id]).then((r) => r.rows), [{ attempt: 1, ended_at: null }], 'the attempt was left open')

  // Another worker: BullMQ sees the dead worker's lock expire and hands the job over; leix waits
  // out the open attempt's lease (timeout + margin), closes it as interrupted and tries again.
  const rescuer = await startDelivery(rt, { workers: true, timers: false })
  t.teardown(() => rescuer.stop())
  await waitFor('delivery by the other worker', async () => (await messageStatus(rt, message.id)) === 'delivered', 30_000)
  t.match((await rt.pool.query('SELECT attempt, outcome FROM deliveries WHERE message_id = $1 ORDER BY attempt', [message.id])).rows, [
    { attempt: 1, outcome: 'interrupted' },
    { attempt: 2, outcome: 'delivered' },
  ])
  t.same(receivedFor(message.id).map(attemptOf), [1, 2], 'at least once: the recipient deduplicates by Leix-Message-Id')
  t.equal((await rt.pool.query('SELECT status FROM exchanges WHERE id = $1', [exchangeId])).rows[0].status, 'delivered')
  t.equal(await count(rt, "SELECT 1 FROM audit_events WHERE message_id = $1 AND type = 'delivery.failed' AND event->>'reason' = 'interrupted'", [message.id]), 1)
  await rescuer.stop()
})

t.test('SIGTERM with deliveries in flight: they finish, nothing is lost, a restart delivers the rest', async (t) => {
  recipient.answer = () => ({ status: 200, delayMs: 1500 })
  // All five queued before the worker starts: it then takes two at once. Submitted while it ran,
  // under load the first deliveries could end and the third begin before the wait below began,
  // and it would never see exactly two.
  const ids: string[] = []
  for (let i = 0; i < 5; i++) {
    const m = requestMessage(rt.clock)
    t.equal((await submit(app, await sign(m))).statusCode, 202)
    ids.push(m.id)
  }
  const first = await spawnWorker(t, workerEnv(d))
  const inFlight = () => recipient.messages.filter((r) => ids.includes(String(r.headers['leix-message-id'])))
  await waitFor('two deliveries in flight (concurrency 2)', () => inFlight().length === 2)
  first.child.kill('SIGTERM')
  t.equal(await first.exited, 0, 'the worker stops cleanly')
  const delivered = await count(rt, "SELECT 1 FROM messages WHERE status = 'delivered' AND id = ANY($1::uuid[])", [ids])
  t.equal(delivered, 2, 'the deliveries in flight were finished, not abandoned')
  t.equal(await count(rt, 'SELECT 1 FROM deliveries WHERE ended_at IS NULL AND message_id = ANY($1::uuid[])', [ids]), 0, 'no attempt left open')
  const waiting = ids.filter((id) => !inFlight().some((r) => r.headers['leix-message-id'] === id))
  t.equal((await rt.queue.heldDeliveries(waiting)).size, 3, 'the other three are still queued in Redis')

  const second = await spawnWorker(t, workerEnv(d))
  await waitFor('the rest delivered after the restart', async () =>
    (await count(rt, "SELECT 1 FROM messages WHERE status = 'delivered' AND id = ANY($1::uuid[])", [ids])) === ids.length, 30_000)
  for (const id of ids) t.equal(receivedFor(id).length, 1, `${id.slice(0, 8)} delivered exactly once`)
  second.child.kill('SIGTERM')
  t.equal(await second.exited, 0)
})
