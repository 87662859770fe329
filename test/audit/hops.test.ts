// Every hop has an event: the close of an answered exchange (by its requester, automatically, or
// by a DPO's rejection), the requester's answer to a clarification, what a rejection names when
// the payload was readable, an accepted third-country transfer's basis, failed notification
// pushes. Free text people write stays out of the sealed log (A3).
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { ManualClock } from '../../src/config/clock.ts'
import { closeAnsweredExchanges } from '../../src/exchanges/record.ts'
import { createWebhookAgent } from '../../src/delivery/webhook.ts'
import { pushNotification } from '../../src/delivery/notifications.ts'
import { count, freePort, requestMessage, sign, submit, tokenFor } from '../helpers.ts'
import { deliveryApp, writeDirectory } from '../delivery/helpers.ts'

const deadPort = await freePort()
const directoryPath = writeDirectory(t, { 'AL-ASP': { webhook: `http://127.0.0.1:${deadPort}/hook`, maxAttempts: 2 } })
const clock = new ManualClock(new Date())
const { app, rt, config } = await deliveryApp(t, { clock, workers: false, config: { directoryPath } })

function reply (kind: string, inReplyTo: string, o: { from?: string, to?: string } = {}): Record<string, any> {
  const m: Record<string, any> = {
    ...requestMessage(clock, { from: o.from ?? 'RS-MUP', to: o.to ?? 'AL-ASP' }), kind, inReplyTo,
    purpose: { statement: 'Reply in case CASE-2026-0815' },
    body: { facts: 'The vehicle is registered to the subject.', assessments: 'Likely the organiser.' },
  }
  if (kind === 'response') m.evaluation = { source: 'B', information: '2' }
  if (kind === 'refusal') m.refusal = { ground: 'f', reasons: 'Disclosure would harm an ongoing investigation.' }
  return m
}
const send = async (m: Record<string, any>) => {
  const res = await submit(app, await sign(m))
  t.equal(res.statusCode, 202, `${m.kind} from ${m.from.agency}: ${res.body}`)
  return res.json() as { exchangeId: string }
}
const eventsOf = async (exchangeId: string) =>
  (await rt.pool.query<{ type: string; event: Record<string, any> }>('SELECT type, event FROM audit_events WHERE exchange_id = $1 ORDER BY recorded', [exchangeId])).rows
const status = async (exchangeId: string) => (await rt.pool.query('SELECT status FROM exchanges WHERE id = $1', [exchangeId])).rows[0].status
const close = (exchangeId: string, agency: string, roles = ['officer']) =>
  app.inject({ method: 'POST', url: `/v1/exchanges/${exchangeId}/close`, headers: { authorization: `Bearer ${tokenFor(app, agency, roles)}` } })

t.test('the requester closes an answered exchange: exchange.closed; nobody else may', async (t) => {
  const request = requestMessage(clock)
  const { exchangeId } = await send(request)
  const early = await close(exchangeId, 'AL-ASP')
  t.equal(early.statusCode, 409, 'an exchange still awaiting its answer cannot be closed')
  t.equal(early.json().code, 'invalid-transition')
  await send(reply('response', request.id))
  t.equal(await status(exchangeId), 'answered')

  const responder = await close(exchangeId, 'RS-MUP')
  t.equal(responder.statusCode, 403, 'the responder does not close it')
  const stranger = await close(exchangeId, 'ME-UP')
  t.equal(stranger.statusCode, 404, 'another agency learns nothing')
  t.equal(await count(rt, "SELECT 1 FROM audit_events WHERE type = 'access.denied' AND exchange_id = $1 AND actor = 'me-up-officer-1'", [exchangeId]), 1)
  t.equal((await close(exchangeId, 'AL-ASP', ['auditor'])).statusCode, 403, 'an auditor does not close exchanges')
  t.equal((await close(randomUUID(), 'AL-ASP')).statusCode, 404)

  const res = await close(exchangeId, 'AL-ASP')
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { exchangeId, status: 'closed' })
  const closed = (await eventsOf(exchangeId)).filter((e) => e.type === 'exchange.closed')
  t.equal(closed.length, 1)
  t.match(closed[0]!.event, { actor: { kind: 'person', agency: 'AL-ASP' }, agencies: ['AL-ASP', 'RS-MUP'], reason: 'acknowledged', details: { by: 'requester', previousStatus: 'answered' } })
  t.equal((await close(exchangeId, 'AL-ASP')).statusCode, 409, 'closed once')
  const timeline = (await app.inject({ url: `/v1/exchanges/${exchangeId}`, headers: { authorization: `Bearer ${tokenFor(app, 'RS-MUP')}` } })).json().timeline
  t.ok(timeline.some((e: { event: string }) => e.event === 'exchange.closed'), 'both parties see the close in the timeline')
})

t.test('answered and refused exchanges nobody closes are closed automatically after the configured time', async (t) => {
  const answered = requestMessage(clock)
  const a = await send(answered)
  await send(reply('response', answered.id))
  const refusedReq = requestMessage(clock)
  const r = await send(refusedReq)
  await send(reply('refusal', refusedReq.id))
  const open = await send(requestMessage(clock))
  t.equal(await closeAnsweredExchanges(rt.pool, new Date(clock.now().getTime() + 59_000), 60), 0, 'not before the time')
  t.equal(await closeAnsweredExchanges(rt.pool, new Date(clock.now().getTime() + 61_000), 0), 0, '0 disables it')
  const closedNow = await closeAnsweredExchanges(rt.pool, new Date(clock.now().getTime() + 61_000), 60)
  t.ok(closedNow >= 2)
  for (const id of [a.exchangeId, r.exchangeId]) {
    t.equal(await status(id), 'closed')
    const ev = (await eventsOf(id)).find((e) => e.type === 'exchange.closed')!
    t.match(ev.event, { actor: { kind: 'broker' }, reason: 'auto-close', details: { by: 'auto', afterSeconds: 60 } })
  }
  t.not(await status(open.exchangeId), 'closed', 'an exchange awaiting its answer stays open')
})

t.test("a DPO's rejection closes the exchange on the sender's side, with the reason's code and hash only", async (t) => {
  const held = requestMessage(clock, { to: 'ME-UP' }, { dataSubjects: [{ ref: 'SUBJ-M1', category: 'victim', minor: true }] })
  const res = await submit(app, await sign(held))
  t.equal(res.json().status, 'held')
  const { exchangeId } = res.json()
  const reason = 'Not necessary: the child Ana K. is already protected'
  const decided = await app.inject({
    method: 'POST', url: `/v1/messages/${held.id}/review`, headers: { authorization: `Bearer ${tokenFor(app, 'AL-ASP', ['dpo'])}` },
    payload: { decision: 'reject', justification: reason, caseRef: 'DPO-2026/17' },
  })
  t.equal(decided.statusCode, 200, decided.body)
  const events = await eventsOf(exchangeId)
  const closed = events.find((e) => e.type === 'exchange.closed')
  t.match(closed?.event, { agencies: ['AL-ASP'], reason: 'review-rejected', details: { by: 'review' } }, 'recorded, for the sender only (D4)')
  const review = events.find((e) => e.type === 'review.decided')!.event
  t.match(review.justification, { code: 'data-protection-review', caseRef: 'DPO-2026/17', id: String, hash: /^[\w-]{43}$/ })
  t.notMatch(JSON.stringify(events), /Ana K/, 'the reason as written is not in the log')
  t.equal((await rt.pool.query('SELECT text FROM justifications WHERE id = $1', [review.justification.id])).rows[0].text, reason)
  const bad = await app.inject({
    method: 'POST', url: `/v1/messages/${randomUUID()}/review`, headers: { authorization: `Bearer ${tokenFor(app, 'AL-ASP', ['dpo'])}` },
    payload: { decision: 'reject', justification: reason, justificationCode: 'gossip' },
  })
  t.equal(bad.statusCode, 400, 'a code off the closed list is refused')
})

t.test("the requester's answer to a clarification is an exchange event", async (t) => {
  const request = requestMessage(clock)
  const { exchangeId } = await send(request)
  const ask = reply('clarification', request.id)
  await send(ask)
  clock.advance(3_600_000)
  await send(reply('clarification', ask.id, { from: 'AL-ASP', to: 'RS-MUP' }))
  const given = (await eventsOf(exchangeId)).find((e) => e.type === 'exchange.clarification-given')
  t.match(given?.event, { actor: { agency: 'AL-ASP' }, agencies: ['AL-ASP', 'RS-MUP'], outcome: 'ok', details: { status: 'acknowledged', deadline: String } })
})

t.test('a rejected message names its intended recipient, instrument and officer when the payload was readable', async (t) => {
  // AT-BK (an EU member state) to AL-ASP without a transfer basis: L5 refuses it.
  const m = requestMessage(clock, { from: 'AT-BK', to: 'AL-ASP' })
  const res = await submit(app, await sign(m))
  t.equal(res.statusCode, 422, res.body)
  const ev = (await rt.pool.query("SELECT event FROM audit_events WHERE type = 'message.rejected' AND message_id = $1", [m.id])).rows[0]?.event
  t.match(ev, { actor: { agency: 'AT-BK', id: m.from.officer }, agencies: ['AT-BK'], recipients: ['AL-ASP'], legalBasis: m.legalBasis.instrument, reason: 'principle-violation' })
  // Unknown agencies or odd officer ids are not copied into the log.
  const odd = requestMessage(clock, { to: 'AT-BK' }, { to: { agency: 'XX-NOBODY' }, from: { agency: 'AL-ASP', officer: 'Ivan Petrov, born 1980' } })
  await submit(app, await sign(odd))
  const ev2 = (await rt.pool.query("SELECT event FROM audit_events WHERE type = 'message.rejected' AND message_id = $1", [odd.id])).rows[0]?.event
  t.ok(ev2, 'recorded')
  t.notOk(ev2.recipients, 'no recipient outside the directory')
  t.notMatch(JSON.stringify(ev2), /Ivan|XX-NOBODY/)
})

t.test('an accepted third-country transfer (L5) records its basis and reference', async (t) => {
  const m = requestMessage(clock, { from: 'AT-BK', to: 'AL-ASP' })
  m.legalBasis = { ...m.legalBasis, transfer: { basis: 'safeguards', reference: 'PCC-SEE Art. 31' } }
  const { exchangeId } = await send(m)
  const accepted = (await eventsOf(exchangeId)).find((e) => e.type === 'message.accepted')!.event
  t.match(accepted.details, { transferBasis: 'safeguards', transferReference: 'PCC-SEE Art. 31' })
  const domestic = await send(requestMessage(clock))
  const plain = (await eventsOf(domestic.exchangeId)).find((e) => e.type === 'message.accepted')!.event
  t.notOk('transferBasis' in plain.details, 'no transfer fields between two third countries')
})

t.test('a failed notification push is recorded', async (t) => {
  const id = randomUUID()
  const now = clock.now()
  await rt.pool.query(
    `INSERT INTO notifications (id, agency, type, created_at, details, push_status, push_budget_from, next_push_at)
     VALUES ($1, 'AL-ASP', 'exchange.overdue', $2, '{}', 'pending', $2, $2)`, [id, now])
  const agent = createWebhookAgent(config)
  t.teardown(() => agent.close())
  const deps = { pool: rt.pool, directory: rt.directory, clock, brokerKey: rt.brokerKey, agent, config }
  const retry = await pushNotification(deps, id)
  t.type(retry, 'number', 'will retry')
  await pushNotification(deps, id)
  const events = (await rt.pool.query<{ event: Record<string, any> }>("SELECT event FROM audit_events WHERE type = 'notification.push-failed' AND event -> 'details' ->> 'notificationId' = $1 ORDER BY recorded", [id])).rows
  t.equal(events.length, 2, 'each failed attempt is an event')
  t.match(events[0]!.event, { agencies: ['AL-ASP'], outcome: 'failed', reason: 'retrying', details: { attempt: 1, notificationType: 'exchange.overdue' } })
  t.match(events[1]!.event, { reason: 'gave-up', details: { attempt: 2, nextAttemptAt: null } })
})
