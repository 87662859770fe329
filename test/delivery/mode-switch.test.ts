// An agency that moves from pull to push (a directory change and a restart) gets the messages
// still waiting in its inbox pushed: nothing is stranded.
import t from 'tap'
import { ManualClock } from '../../src/config/clock.ts'
import { createTestDatabase, requestMessage, sign, submit, count } from '../helpers.ts'
import { deliveryApp, messageStatus, startRecipient, waitFor, writeDirectory } from './helpers.ts'

t.test('pull to push: waiting messages are pushed after the restart', async (t) => {
  const databaseUrl = await createTestDatabase(t)
  const clock = new ManualClock(new Date())
  const pulling = await deliveryApp(t, { clock, databaseUrl, config: { directoryPath: writeDirectory(t, {}) } })
  const message = requestMessage(clock)
  t.equal((await submit(pulling.app, await sign(message))).statusCode, 202)
  await waitFor('the message in the inbox', async () =>
    (await count(pulling.rt, "SELECT 1 FROM audit_events WHERE type = 'delivery.queued' AND message_id = $1", [message.id])) === 1)
  await pulling.app.close()
  await pulling.service.stop()

  const recipient = await startRecipient(t)
  const pushing = await deliveryApp(t, { clock, databaseUrl, config: { directoryPath: writeDirectory(t, { 'RS-MUP': { webhook: recipient.url } }) } })
  await pushing.service.reconciler.runOnce()
  await waitFor('the push', () => recipient.messages.length === 1)
  t.equal(recipient.messages[0]?.headers['leix-message-id'], message.id)
  await waitFor('delivered', async () => (await messageStatus(pushing.rt, message.id)) === 'delivered')
  t.equal(await count(pushing.rt, "SELECT 1 FROM deliveries WHERE message_id = $1 AND outcome = 'delivered'", [message.id]), 1)
})
