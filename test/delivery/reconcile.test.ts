// Redis loses everything mid-flight (FLUSHALL on a private redis-server): PostgreSQL still says
// what is due, the reconciler puts it back, and every message reaches the recipient exactly once.
import t from 'tap'
import { count, requestMessage, sign, submit } from '../helpers.ts'
import { deliveryApp, startRecipient, startRedisServer, waitFor, writeDirectory } from './helpers.ts'

const redis = await startRedisServer(t) // never the shared Redis on 6379: this test flushes it
const recipient = await startRecipient(t, () => ({ status: 200, delayMs: 150 }))
const directoryPath = writeDirectory(t, { 'RS-MUP': { webhook: recipient.url } })
const { app, rt, service } = await deliveryApp(t, {
  config: { directoryPath, redisUrl: redis.url, workerConcurrency: 4, deliveryTimeoutMs: 1000 },
})

t.test('FLUSHALL mid-flight, then the reconciler delivers everything exactly once', async (t) => {
  const ids: string[] = []
  for (let i = 0; i < 20; i++) {
    const m = requestMessage(rt.clock)
    const res = await submit(app, await sign(m))
    t.equal(res.statusCode, 202)
    ids.push(m.id)
  }
  await waitFor('some deliveries under way', () => recipient.messages.length >= 4)
  await rt.redis.flushall()
  t.equal((await rt.queue.heldDeliveries(ids)).size, 0, 'Redis holds no job any more')
  const pending = await count(rt, "SELECT 1 FROM messages WHERE status = 'accepted' AND id = ANY($1::uuid[])", [ids])
  t.ok(pending > 0, `${pending} messages still due according to PostgreSQL`)

  const restored = await service.reconciler.runOnce()
  t.ok(restored.messages >= pending - 4, `the reconciler re-enqueued ${restored.messages} (those in flight may finish on their own)`)
  await waitFor('every message delivered', async () =>
    (await count(rt, "SELECT 1 FROM messages WHERE status = 'delivered' AND id = ANY($1::uuid[])", [ids])) === ids.length, 30_000)

  for (const id of ids) {
    const received = recipient.messages.filter((r) => r.headers['leix-message-id'] === id).length
    if (received !== 1) t.fail(`${id} received ${received} times`)
  }
  t.equal(recipient.messages.length, ids.length, 'each message reached the recipient exactly once')
  t.equal(await count(rt, 'SELECT 1 FROM deliveries WHERE message_id = ANY($1::uuid[])', [ids]), ids.length, 'one attempt row each')
  t.equal(await count(rt, "SELECT 1 FROM audit_events WHERE type = 'delivery.succeeded' AND message_id = ANY($1::uuid[])", [ids]), ids.length)
  await waitFor('the queue to drain', async () => (await rt.queue.heldDeliveries(ids)).size === 0)
  t.same(await service.reconciler.runOnce(), { messages: 0, notifications: 0 }, 'nothing left to restore')
})
