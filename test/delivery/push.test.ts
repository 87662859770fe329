// Push delivery against a real HTTP recipient on loopback: success with a verifiable broker
// signature, failure then recovery, permanent refusals, the attempt and time budgets,
// undeliverable then redelivered, and idempotency by message id.
import t from 'tap'
import { ManualClock } from '../../src/config/clock.ts'
import { verifyDelivery, verifyNotification } from '../../src/delivery/signature.ts'
import { digestOf } from '../../src/intake/receipt.ts'
import { count, requestMessage, sign, submit, tokenFor } from '../helpers.ts'
import { deliveryApp, messageStatus, startRecipient, waitFor, writeDirectory } from './helpers.ts'

const recipient = await startRecipient(t)
// RS-MUP pushes with the default budget; ME-UP has its own of 3 attempts; AL-ASP (the requester)
// pushes too, so that notifications reach both ends.
const directoryPath = writeDirectory(t, {
  'RS-MUP': { webhook: recipient.url },
  'ME-UP': { webhook: recipient.url, maxAttempts: 3, maxElapsedSeconds: 600 },
  'AL-ASP': { webhook: recipient.url },
})
const clock = new ManualClock(new Date())
const { app, rt } = await deliveryApp(t, { clock, config: { directoryPath } })
const jwks = (await app.inject('/.well-known/jwks.json')).json()

const deliveriesOf = async (id: string) =>
  (await rt.pool.query('SELECT attempt, outcome, http_status, error, ended_at FROM deliveries WHERE message_id = $1 ORDER BY attempt', [id])).rows
const eventsOf = async (id: string) =>
  (await rt.pool.query('SELECT type, event FROM audit_events WHERE message_id = $1 ORDER BY recorded', [id])).rows as { type: string; event: any }[]
const exchangeStatus = async (id: string) => (await rt.pool.query('SELECT status FROM exchanges WHERE id = $1', [id])).rows[0]?.status
const receivedFor = (id: string) => recipient.messages.filter((r) => r.headers['leix-message-id'] === id)

t.beforeEach(() => { recipient.answer = () => 200 })

t.test('push success: the original JWS, the ids and a broker signature that verifies with the JWKS', async (t) => {
  const message = requestMessage(clock)
  const jws = await sign(message)
  const res = await submit(app, jws)
  t.equal(res.statusCode, 202)
  const { exchangeId } = res.json()
  await waitFor('delivery', async () => (await messageStatus(rt, message.id)) === 'delivered')
  const [received] = receivedFor(message.id)
  t.ok(received, 'the recipient got it')
  t.equal(received!.body, jws, 'body is the sender\'s compact JWS, byte for byte')
  t.equal(received!.headers['content-type'], 'application/jose')
  t.equal(received!.headers['leix-message-id'], message.id)
  t.equal(received!.headers['leix-exchange-id'], exchangeId)
  const attestation = await verifyDelivery(String(received!.headers['leix-delivery-signature']), jwks, { body: received!.body, recipient: 'RS-MUP' })
  t.match(attestation, { messageId: message.id, exchangeId, sender: 'AL-ASP', recipient: 'RS-MUP', kind: 'request', digest: digestOf(jws), attempt: 1 })
  await t.rejects(verifyDelivery(String(received!.headers['leix-delivery-signature']), jwks, { body: `${jws}x` }), { code: 'digest-mismatch' })

  t.equal(await exchangeStatus(exchangeId), 'delivered', 'the opening message delivered moves the exchange')
  t.match(await deliveriesOf(message.id), [{ attempt: 1, outcome: 'delivered', http_status: 200 }])
  const types = (await eventsOf(message.id)).map((e) => e.type)
  t.same(types.filter((x) => x.startsWith('delivery.')), ['delivery.attempted', 'delivery.succeeded'])
  const succeeded = (await eventsOf(message.id)).find((e) => e.type === 'delivery.succeeded')!.event
  t.same(succeeded.recipients, ['RS-MUP'], 'the disclosure names its recipient (A1)')

  const detail = (await app.inject({ method: 'GET', url: `/v1/exchanges/${exchangeId}`, headers: { authorization: `Bearer ${tokenFor(app, 'AL-ASP')}` } })).json()
  t.equal(detail.status, 'delivered')
  t.match(detail.messages[0], { status: 'delivered', attempts: 1, deliveries: [{ attempt: 1, outcome: 'delivered', httpStatus: 200 }] })
  t.ok(detail.timeline.some((e: { event: string; details?: { attempt?: number } }) => e.event === 'delivery.succeeded' && e.details?.attempt === 1), 'the timeline shows the hop')

  t.test('a duplicate job for a delivered message does nothing', async (t) => {
    await rt.queue.enqueue(message.id)
    await waitFor('the duplicate job to finish', async () => !(await rt.queue.queue.getJob(message.id)))
    t.equal(receivedFor(message.id).length, 1, 'no second POST')
    t.equal(await count(rt, 'SELECT 1 FROM deliveries WHERE message_id = $1', [message.id]), 1, 'no second attempt row')
    t.equal(await count(rt, "SELECT 1 FROM audit_events WHERE message_id = $1 AND type = 'delivery.succeeded'", [message.id]), 1)
  })
})

t.test('a recipient failing, then recovering: retried with backoff, delivered once', async (t) => {
  recipient.answer = (r) => (receivedFor(String(r.headers['leix-message-id'])).length <= 2 ? 503 : 200)
  const message = requestMessage(clock)
  const { exchangeId } = (await submit(app, await sign(message))).json()
  await waitFor('delivery', async () => (await messageStatus(rt, message.id)) === 'delivered')
  t.match(await deliveriesOf(message.id), [
    { attempt: 1, outcome: 'failed', http_status: 503, error: 'HTTP 503' },
    { attempt: 2, outcome: 'failed', http_status: 503 },
    { attempt: 3, outcome: 'delivered', http_status: 200 },
  ])
  const attempts = receivedFor(message.id).map((r) => JSON.parse(Buffer.from(String(r.headers['leix-delivery-signature']).split('.')[1]!, 'base64url').toString()).attempt)
  t.same(attempts, [1, 2, 3], 'each attempt is signed with its number')
  const types = (await eventsOf(message.id)).map((e) => e.type).filter((x) => x.startsWith('delivery.'))
  t.same(types, ['delivery.attempted', 'delivery.failed', 'delivery.attempted', 'delivery.failed', 'delivery.attempted', 'delivery.succeeded'])
  t.equal(await exchangeStatus(exchangeId), 'delivered')
})

t.test('408 and 429 are retried; a 4xx that cannot succeed stops at once', async (t) => {
  recipient.answer = (r) => (receivedFor(String(r.headers['leix-message-id'])).length === 1 ? 429 : receivedFor(String(r.headers['leix-message-id'])).length === 2 ? 408 : 200)
  const retried = requestMessage(clock)
  await submit(app, await sign(retried))
  await waitFor('delivery after 429 and 408', async () => (await messageStatus(rt, retried.id)) === 'delivered')
  t.equal(receivedFor(retried.id).length, 3)

  for (const status of [400, 401, 403, 404, 410, 413, 415, 422]) {
    recipient.answer = () => status
    const message = requestMessage(clock)
    const { exchangeId } = (await submit(app, await sign(message))).json()
    await waitFor(`undeliverable after ${status}`, async () => (await messageStatus(rt, message.id)) === 'undeliverable')
    t.equal(receivedFor(message.id).length, 1, `${status}: one attempt only`)
    t.equal(await exchangeStatus(exchangeId), 'undeliverable', `${status}: the exchange is undeliverable`)
    const ev = (await eventsOf(message.id)).find((e) => e.type === 'delivery.undeliverable')!.event
    t.equal(ev.reason, 'permanent')
  }
})

t.test('a recipient down until undeliverable (per-agency budget), visible to both; then redelivered by an admin', async (t) => {
  recipient.answer = () => 503
  const message = requestMessage(clock, { to: 'ME-UP' })
  const { exchangeId } = (await submit(app, await sign(message))).json()
  await waitFor('undeliverable', async () => (await messageStatus(rt, message.id)) === 'undeliverable')
  t.equal(receivedFor(message.id).length, 3, "ME-UP's own budget: 3 attempts")
  t.equal(await exchangeStatus(exchangeId), 'undeliverable')
  const ev = (await eventsOf(message.id)).find((e) => e.type === 'delivery.undeliverable')!.event
  t.match(ev, { reason: 'budget-spent', agencies: ['AL-ASP', 'ME-UP'], details: { attempts: 3, maxAttempts: 3 } })

  for (const agency of ['AL-ASP', 'ME-UP']) {
    const detail = (await app.inject({ method: 'GET', url: `/v1/exchanges/${exchangeId}`, headers: { authorization: `Bearer ${tokenFor(app, agency)}` } })).json()
    t.equal(detail.status, 'undeliverable', `${agency} sees it undeliverable`)
    t.ok(detail.timeline.some((e: { event: string }) => e.event === 'delivery.undeliverable'))
    const notes = (await app.inject({ url: '/v1/notifications', headers: { authorization: `Bearer ${tokenFor(app, agency)}` } })).json()
    t.ok(notes.items.some((n: { type: string; messageId: string }) => n.type === 'delivery.undeliverable' && n.messageId === message.id), `${agency} is notified`)
  }
  const pushed = await waitFor('the notification pushes to both agencies', async () => {
    const notes = await Promise.all(recipient.notifications.map(async (r) => ({ r, note: await verifyNotification(r.body, jwks) })))
    const mine = notes.filter((n) => n.note.messageId === message.id)
    return mine.length === 2 ? mine : undefined
  })
  t.same(pushed.map((p) => p.note.agency).sort(), ['AL-ASP', 'ME-UP'], 'a signed notification to each push agency')
  t.match(pushed[0]!.note, { type: 'delivery.undeliverable', messageId: message.id, exchangeId })
  t.equal(pushed[0]!.r.headers['leix-notification-type'], 'delivery.undeliverable')
  const pushedBody = pushed[0]!.r.body
  t.notMatch(pushedBody, /SUBJ-7F3A/, 'no personal data in a notification')

  t.test('redelivery: only an admin of either agency; it restarts the budget', async (t) => {
    const redeliver = (agency: string, roles: string[]) =>
      app.inject({ method: 'POST', url: `/v1/messages/${message.id}/redeliver`, headers: { authorization: `Bearer ${tokenFor(app, agency, roles)}` }, payload: { justification: 'webhook repaired (ticket 42)' } })
    t.equal((await redeliver('AL-ASP', ['officer'])).statusCode, 403, 'an officer may not')
    const stranger = await redeliver('RS-MUP', ['admin'])
    t.equal(stranger.statusCode, 404, 'an admin of a third agency sees nothing')
    t.equal(stranger.json().code, 'not-found')
    recipient.answer = () => 200
    const res = await redeliver('ME-UP', ['admin'])
    t.equal(res.statusCode, 200, res.body)
    t.match(res.json(), { messageId: message.id, status: 'accepted', previousStatus: 'undeliverable' })
    await waitFor('delivery after redelivery', async () => (await messageStatus(rt, message.id)) === 'delivered')
    t.equal(await exchangeStatus(exchangeId), 'delivered', 'undeliverable -> accepted -> delivered')
    const rows = await deliveriesOf(message.id)
    t.equal(rows.length, 4, 'the history is kept: 3 failed attempts and the delivery')
    t.match(rows[3], { attempt: 4, outcome: 'delivered' })
    const redeliveryEvent = (await eventsOf(message.id)).find((e) => e.type === 'delivery.redelivery-requested')!.event
    t.match(redeliveryEvent, { actor: { kind: 'person', agency: 'ME-UP' }, justification: { code: 'operations', id: String, hash: String } })
    t.notMatch(JSON.stringify(redeliveryEvent), /ticket 42/, 'the free text stays out of the log (A3)')
    const again = await redeliver('ME-UP', ['admin'])
    t.equal(again.statusCode, 409, 'a delivered message is not redelivered')
    t.equal(again.json().code, 'invalid-message-state')
  })
})

t.test('the time budget ends delivery even with attempts left (injected clock)', async (t) => {
  const message = requestMessage(clock, { to: 'ME-UP' })
  // The first attempt fails, and meanwhile more than ME-UP's maxElapsedSeconds (600) pass.
  recipient.answer = () => { clock.advance(601_000); return 503 }
  await submit(app, await sign(message))
  await waitFor('undeliverable by time', async () => (await messageStatus(rt, message.id)) === 'undeliverable')
  t.equal(receivedFor(message.id).length, 1, 'one attempt of the 3 allowed')
  const ev = (await eventsOf(message.id)).find((e) => e.type === 'delivery.undeliverable')!.event
  t.match(ev, { reason: 'budget-spent', details: { attempts: 1, maxElapsedSeconds: 600 } })
})
