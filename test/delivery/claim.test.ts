// The delivery claim is exclusive: however many workers run the delivery step for one message at
// the same moment, exactly one of them POSTs it; the others see the open attempt and back off.
import t from 'tap'
import { systemClock } from '../../src/config/clock.ts'
import { deliverMessage, type DeliveryDeps } from '../../src/delivery/deliver.ts'
import { createWebhookAgent } from '../../src/delivery/webhook.ts'
import { count, requestMessage, sign, submit } from '../helpers.ts'
import { deliveryApp, startRecipient, writeDirectory } from './helpers.ts'

const recipient = await startRecipient(t, () => ({ status: 200, delayMs: 100 }))
const directoryPath = writeDirectory(t, { 'RS-MUP': { webhook: recipient.url } })
// No workers here: the test itself plays the workers, all at once.
const d = await deliveryApp(t, { clock: systemClock, workers: false, config: { directoryPath } })
const { app, rt } = d
const agent = createWebhookAgent(rt.config)
t.teardown(() => agent.close())
const deps: DeliveryDeps = { pool: rt.pool, directory: rt.directory, clock: rt.clock, brokerKey: rt.brokerKey, agent, config: rt.config }

const MESSAGES = 8
const CLAIMS = 8 // concurrent delivery steps per message (the pool has 10 connections)

t.test('concurrent claims for one message: exactly one POST, one attempt, one delivered outcome', async (t) => {
  for (let i = 0; i < MESSAGES; i++) {
    const message = requestMessage(rt.clock)
    t.equal((await submit(app, await sign(message))).statusCode, 202)
    const steps = await Promise.all(Array.from({ length: CLAIMS }, () => deliverMessage(deps, message.id)))
    const posts = recipient.messages.filter((r) => r.headers['leix-message-id'] === message.id)
    t.equal(posts.length, 1, `message ${i}: one POST for ${CLAIMS} concurrent claims`)
    t.equal(steps.filter((s) => s.kind === 'done' && s.outcome === 'delivered').length, 1, 'one claim delivered it')
    t.ok(steps.every((s) => (s.kind === 'done' && (s.outcome === 'delivered' || s.outcome === 'not-due')) || (s.kind === 'later' && s.reason === 'in-flight')),
      'every other claim saw the attempt in flight or the message already delivered')
    t.equal(await count(rt, 'SELECT 1 FROM deliveries WHERE message_id = $1', [message.id]), 1, 'one attempt recorded')
    t.equal(await count(rt, "SELECT 1 FROM audit_events WHERE message_id = $1 AND type = 'delivery.attempted'", [message.id]), 1, 'one delivery.attempted event')
  }
})
