// Pull delivery: the recipient's inbox, acknowledgement, and the inbox as a fallback for a push
// agency whose webhook is down. Real Redis, PostgreSQL and HTTP.
import t from 'tap'
import { ManualClock } from '../../src/config/clock.ts'
import { startServices } from '../../src/background.ts'
import { buildApp } from '../../src/app.ts'
import { count, requestMessage, sign, submit, tokenFor } from '../helpers.ts'
import { deliveryApp, messageStatus, startRecipient, waitFor, writeDirectory } from './helpers.ts'

const recipient = await startRecipient(t, () => 503)
// RS-MUP and ME-UP pull (as in the sample directory); BA-DKPT pushes to a webhook that is down.
const directoryPath = writeDirectory(t, { 'BA-DKPT': { webhook: recipient.url } })
const clock = new ManualClock(new Date())
const { app, rt, service } = await deliveryApp(t, { clock, config: { directoryPath, deliveryBackoffMs: 60_000 } })

const system = (agency: string) => ({ authorization: `Bearer ${tokenFor(app, agency, ['system'], `${agency.toLowerCase()}-system`)}` })
const inbox = (agency: string, query = '') => app.inject({ url: `/v1/inbox${query}`, headers: system(agency) })
const ack = (agency: string, id: string, headers = system(agency)) => app.inject({ method: 'POST', url: `/v1/inbox/${id}/ack`, headers })

t.test('a pull agency finds its messages in its inbox, oldest first, and acknowledges them', async (t) => {
  const first = requestMessage(clock)
  const firstJws = await sign(first)
  const { exchangeId } = (await submit(app, firstJws)).json()
  clock.advance(1000)
  const second = requestMessage(clock)
  const secondJws = await sign(second)
  await submit(app, secondJws)
  await waitFor('the worker to place both in the inbox', async () =>
    (await count(rt, "SELECT 1 FROM audit_events WHERE type = 'delivery.queued' AND message_id = ANY($1::uuid[])", [[first.id, second.id]])) === 2)
  t.equal(recipient.messages.length, 0, 'nothing is pushed to a pull agency')
  t.equal(await messageStatus(rt, first.id), 'accepted', 'waiting in the inbox is not delivered yet')

  const page1 = await inbox('RS-MUP', '?limit=1')
  t.equal(page1.statusCode, 200, page1.body)
  t.equal(page1.json().items.length, 1)
  t.match(page1.json().items[0], { messageId: first.id, exchangeId, kind: 'request', from: 'AL-ASP', to: 'RS-MUP', status: 'accepted', jws: firstJws, attempt: 1 })
  t.ok(page1.json().nextCursor)
  const page2 = await inbox('RS-MUP', `?limit=1&cursor=${page1.json().nextCursor}`)
  t.match(page2.json().items, [{ messageId: second.id, jws: secondJws }])
  t.equal(page2.json().nextCursor, null)

  t.equal((await inbox('ME-UP')).json().items.length, 0, 'another agency sees none of them')
  t.equal((await app.inject({ url: '/v1/inbox', headers: { authorization: `Bearer ${tokenFor(app, 'RS-MUP', ['officer'])}` } })).statusCode, 403, 'the inbox is for the agency system')
  t.equal((await app.inject({ url: '/v1/inbox' })).statusCode, 401)
  t.equal((await inbox('RS-MUP', '?cursor=bm9wZQ')).statusCode, 400, 'a forged cursor is refused')

  const fetched = (await rt.pool.query('SELECT attempt, outcome FROM deliveries WHERE message_id = $1', [first.id])).rows
  t.match(fetched, [{ attempt: 1, outcome: 'fetched' }], 'each fetch is recorded as a disclosure')
  t.equal(await count(rt, "SELECT 1 FROM audit_events WHERE type = 'delivery.attempted' AND message_id = $1 AND event->'details'->>'mode' = 'pull'", [first.id]), 1)

  const wrong = await ack('ME-UP', first.id)
  t.equal(wrong.statusCode, 404, 'only the recipient acknowledges')
  t.equal(await count(rt, "SELECT 1 FROM audit_events WHERE type = 'access.denied' AND message_id = $1", [first.id]), 1)
  t.equal((await ack('RS-MUP', first.id, { authorization: `Bearer ${tokenFor(app, 'RS-MUP', ['officer'])}` })).statusCode, 403)

  const res = await ack('RS-MUP', first.id)
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { messageId: first.id, exchangeId, status: 'acknowledged', acknowledgedAt: clock.now().toISOString(), deliveredAt: clock.now().toISOString() })
  t.equal(await messageStatus(rt, first.id), 'acknowledged')
  const detail = (await app.inject({ url: `/v1/exchanges/${exchangeId}`, headers: { authorization: `Bearer ${tokenFor(app, 'AL-ASP')}` } })).json()
  t.equal(detail.status, 'acknowledged', 'the requester sees its request acknowledged')
  const events = detail.timeline.map((e: { event: string }) => e.event)
  t.ok(['delivery.queued', 'delivery.attempted', 'delivery.succeeded', 'message.acknowledged'].every((e) => events.includes(e)), events.join(','))

  const again = await ack('RS-MUP', first.id)
  t.equal(again.statusCode, 200, 'acknowledging twice is harmless')
  t.same(again.json(), res.json(), 'and answers the first acknowledgement')
  t.equal(await count(rt, "SELECT 1 FROM audit_events WHERE type = 'message.acknowledged' AND message_id = $1", [first.id]), 1)

  t.same((await inbox('RS-MUP')).json().items.map((i: { messageId: string }) => i.messageId), [second.id], 'an acknowledged message leaves the inbox')
  t.equal((await ack('RS-MUP', '00000000-0000-4000-8000-000000000000')).statusCode, 404)
})

t.test('a push agency whose webhook is down can fetch from its inbox; the worker then stops pushing', async (t) => {
  const message = requestMessage(clock, { from: 'AL-ASP', to: 'BA-DKPT' })
  const { exchangeId } = (await submit(app, await sign(message))).json()
  await waitFor('the first push to fail', async () => (await count(rt, "SELECT 1 FROM deliveries WHERE message_id = $1 AND outcome = 'failed'", [message.id])) === 1)
  const items = (await inbox('BA-DKPT')).json().items
  t.ok(items.some((i: { messageId: string }) => i.messageId === message.id), 'listed while the pushes fail')
  t.equal((await ack('BA-DKPT', message.id)).statusCode, 200)
  t.equal(await messageStatus(rt, message.id), 'acknowledged')
  t.equal((await rt.pool.query('SELECT status FROM exchanges WHERE id = $1', [exchangeId])).rows[0].status, 'acknowledged')
  // The retry still waiting in Redis finds the message acknowledged and does nothing.
  await rt.queue.enqueueNow(message.id)
  await waitFor('the retry job to finish', async () => !(await rt.queue.queue.getJob(message.id)))
  t.equal(recipient.messages.filter((r) => r.headers['leix-message-id'] === message.id).length, 1, 'no push after the acknowledgement')
})

t.test('T5: a message neither pushed nor fetched and acknowledged in time gets a non-delivery status both sides see', async (t) => {
  const message = requestMessage(clock, { from: 'AL-ASP', to: 'ME-UP' })
  const { exchangeId } = (await submit(app, await sign(message))).json()
  // Let the worker place it in the inbox first: the watcher skips rows another transaction holds.
  await waitFor('the message in the inbox', async () => (await count(rt, "SELECT 1 FROM audit_events WHERE type = 'delivery.queued' AND message_id = $1", [message.id])) === 1)
  t.same(await service.watcher.runOnce(), { overdue: [], nonDelivery: [] }, 'not yet')
  clock.advance(rt.config.nonDeliverySeconds * 1000 + 1000)
  const flagged = await service.watcher.runOnce()
  t.ok(flagged.nonDelivery.includes(message.id))
  t.same((await service.watcher.runOnce()).nonDelivery, [], 'flagged once')
  for (const agency of ['AL-ASP', 'ME-UP']) {
    const detail = (await app.inject({ url: `/v1/exchanges/${exchangeId}`, headers: { authorization: `Bearer ${tokenFor(app, agency)}` } })).json()
    t.equal(detail.messages[0].nonDeliveryAt, clock.now().toISOString(), `${agency} sees the non-delivery status`)
    t.ok(detail.timeline.some((e: { event: string; reason?: string }) => e.event === 'message.non-delivery' && e.reason === 'T5'))
    const notes = (await app.inject({ url: '/v1/notifications', headers: { authorization: `Bearer ${tokenFor(app, agency)}` } })).json()
    t.ok(notes.items.some((n: { type: string; messageId: string }) => n.type === 'message.non-delivery' && n.messageId === message.id))
    const next = (await app.inject({ url: `/v1/notifications?after=${notes.nextCursor}`, headers: { authorization: `Bearer ${tokenFor(app, agency)}` } })).json()
    t.same(next, { items: [], nextCursor: notes.nextCursor }, 'polling from the cursor gives only what is new')
  }
  // Fetched and acknowledged late: delivered, and the T5 mark stays as history.
  t.equal((await ack('ME-UP', message.id)).statusCode, 200)
  t.equal(await messageStatus(rt, message.id), 'acknowledged')
})

t.test('`leix gateway` (no workers) still serves the inbox, notifications and admin routes', async (t) => {
  const services = await startServices(rt, { workers: false })
  const gateway = await buildApp(rt, services)
  t.teardown(async () => { await gateway.close(); await services.stop() })
  const res = await gateway.inject({ url: '/v1/inbox', headers: { authorization: `Bearer ${gateway.jwt.sign({ sub: 'rs-system', agency: 'RS-MUP', roles: ['system'] })}` } })
  t.equal(res.statusCode, 200, res.body)
  const notes = await gateway.inject({ url: '/v1/notifications', headers: { authorization: `Bearer ${gateway.jwt.sign({ sub: 'x', agency: 'RS-MUP', roles: ['officer'] })}` } })
  t.equal(notes.statusCode, 200)
  const redeliver = await gateway.inject({ method: 'POST', url: '/v1/messages/00000000-0000-4000-8000-000000000000/redeliver', headers: { authorization: `Bearer ${gateway.jwt.sign({ sub: 'x', agency: 'RS-MUP', roles: ['admin'] })}` } })
  t.equal(redeliver.statusCode, 404)
})
