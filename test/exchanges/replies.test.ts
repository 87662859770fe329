// Replies through the whole pipeline: every reply kind accepted from the counterpart and delivered
// back (push to the requester, inbox of the responder), every refused transition, replies from a
// third agency, own-initiative exchanges, and the DPO's review of held messages and replies.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { ManualClock } from '../../src/config/clock.ts'
import { verifyDelivery } from '../../src/delivery/signature.ts'
import { count, requestMessage, sign, submit, tokenFor } from '../helpers.ts'
import { deliveryApp, messageStatus, startRecipient, waitFor, writeDirectory } from '../delivery/helpers.ts'

const recipient = await startRecipient(t)
// The requester AL-ASP receives by push; the responders RS-MUP and ME-UP pull from their inbox.
const directoryPath = writeDirectory(t, { 'AL-ASP': { webhook: recipient.url } })
const clock = new ManualClock(new Date())
const { app, rt } = await deliveryApp(t, { clock, config: { directoryPath } })
const jwks = (await app.inject('/.well-known/jwks.json')).json()

const HOUR = 3_600_000

/** A reply of `kind` from `from` to `to` in reply to `inReplyTo`, valid for its kind. */
function reply (kind: string, inReplyTo: string, o: { from?: string; to?: string } = {}, patch: Record<string, unknown> = {}): Record<string, any> {
  const base = requestMessage(clock, { from: o.from ?? 'RS-MUP', to: o.to ?? 'AL-ASP' })
  const m: Record<string, any> = {
    ...base, kind, inReplyTo,
    purpose: { statement: 'Reply in case CASE-2026-0815' },
    body: { facts: 'The vehicle is registered to the subject.', assessments: 'Likely the organiser.' },
  }
  if (kind === 'response') m.evaluation = { source: 'B', information: '2' }
  if (kind === 'refusal') m.refusal = { ground: 'f', reasons: 'Disclosure would harm an ongoing investigation.' }
  if (kind === 'delay-notice') m.delay = { ground: 'judicial-authorisation', expectedBy: new Date(clock.now().getTime() + 3 * 86400_000).toISOString(), reasons: 'Awaiting judicial authorisation.' }
  return { ...m, ...patch }
}

const exchange = async (id: string) => (await rt.pool.query('SELECT * FROM exchanges WHERE id = $1', [id])).rows[0]
const pushedTo = (id: string) => recipient.messages.filter((r) => r.headers['leix-message-id'] === id)
const systemOf = (agency: string) => ({ authorization: `Bearer ${tokenFor(app, agency, ['system'])}` })
const inboxIds = async (agency: string) => (await app.inject({ url: '/v1/inbox?limit=100', headers: systemOf(agency) })).json().items.map((i: { messageId: string }) => i.messageId)
const ack = (agency: string, id: string) => app.inject({ method: 'POST', url: `/v1/inbox/${id}/ack`, headers: systemOf(agency) })
const send = async (m: Record<string, any>) => submit(app, await sign(m))
const accepted = async (t: Test, m: Record<string, any>, status: 'accepted' | 'held' = 'accepted') => {
  const res = await send(m)
  t.equal(res.statusCode, 202, `${m.kind} from ${m.from.agency}: ${res.body}`)
  t.equal(res.json().status, status)
  return res.json() as { exchangeId: string; deadline: string | null }
}
const refused = async (t: Test, m: Record<string, any>, status: number, code: string) => {
  const res = await send(m)
  t.equal(res.statusCode, status, `${m.kind} from ${m.from.agency} refused: ${res.body}`)
  t.equal(res.json().code, code)
  t.equal(await count(rt, 'SELECT 1 FROM messages WHERE id = $1', [m.id]), 0, 'nothing stored')
}

t.test('a request followed to its end: clarification both ways, delay notice, response, corrections — each delivered back', async (t) => {
  const request = requestMessage(clock)
  const { exchangeId, deadline } = await accepted(t, request)
  await waitFor('the request in the inbox', async () => (await inboxIds('RS-MUP')).includes(request.id))
  t.equal((await ack('RS-MUP', request.id)).statusCode, 200)
  t.equal((await exchange(exchangeId)).status, 'acknowledged')

  // The requested party asks for clarification: the deadline stands still.
  const ask = reply('clarification', request.id)
  await accepted(t, ask)
  t.equal((await exchange(exchangeId)).status, 'clarification')
  await waitFor('the clarification pushed to AL-ASP', async () => (await messageStatus(rt, ask.id)) === 'delivered')
  const pushed = pushedTo(ask.id)[0]!
  t.match(await verifyDelivery(String(pushed.headers['leix-delivery-signature']), jwks, { body: pushed.body, recipient: 'AL-ASP' }), { kind: 'clarification', sender: 'RS-MUP' })
  t.equal((await exchange(exchangeId)).status, 'clarification', 'a reply delivered does not move the exchange')

  clock.advance(2 * HOUR)
  const answer = reply('clarification', ask.id, { from: 'AL-ASP', to: 'RS-MUP' })
  await accepted(t, answer)
  const resumed = await exchange(exchangeId)
  t.equal(resumed.status, 'acknowledged', 'the answer resumes the exchange')
  t.equal(resumed.deadline.getTime(), new Date(deadline!).getTime() + 2 * HOUR, 'the deadline moved on by the pause')
  await waitFor('the answer in the inbox of RS-MUP', async () => (await inboxIds('RS-MUP')).includes(answer.id))

  const delay = reply('delay-notice', request.id)
  await accepted(t, delay)
  t.equal((await exchange(exchangeId)).status, 'delayed')
  t.equal((await exchange(exchangeId)).delayed_until.toISOString(), delay.delay.expectedBy)
  await waitFor('the delay notice pushed', async () => (await messageStatus(rt, delay.id)) === 'delivered')

  const response = reply('response', request.id)
  await accepted(t, response)
  const answered = await exchange(exchangeId)
  t.equal(answered.status, 'answered')
  t.equal(answered.answered_at.toISOString(), clock.now().toISOString())
  await waitFor('the response pushed', async () => (await messageStatus(rt, response.id)) === 'delivered')
  t.equal(pushedTo(response.id).length, 1)

  // Q3: each side corrects what it sent; the correction reaches the agency that received it.
  const correctRequest = reply('correction', request.id, { from: 'AL-ASP', to: 'RS-MUP' })
  await accepted(t, correctRequest)
  await waitFor('the correction in the inbox of RS-MUP', async () => (await inboxIds('RS-MUP')).includes(correctRequest.id))
  const correctResponse = reply('correction', response.id)
  await accepted(t, correctResponse)
  await waitFor('the correction pushed to AL-ASP', async () => (await messageStatus(rt, correctResponse.id)) === 'delivered')
  t.equal((await exchange(exchangeId)).status, 'answered', 'corrections do not move the exchange')

  t.test('transitions the state machine refuses', async (t) => {
    await refused(t, reply('refusal', request.id), 409, 'invalid-transition')
    await refused(t, reply('delay-notice', request.id), 409, 'invalid-transition')
    await refused(t, reply('clarification', request.id), 409, 'invalid-transition')
    const second = reply('response', request.id)
    await accepted(t, second) // a further response (a supplement) to an answered exchange is allowed
  })

  t.test('the timeline shows every hop to both agencies', async (t) => {
    for (const agency of ['AL-ASP', 'RS-MUP']) {
      const detail = (await app.inject({ url: `/v1/exchanges/${exchangeId}`, headers: { authorization: `Bearer ${tokenFor(app, agency)}` } })).json()
      const events = new Set(detail.timeline.map((e: { event: string }) => e.event))
      for (const e of ['exchange.opened', 'message.received', 'message.accepted', 'delivery.queued', 'delivery.attempted', 'delivery.succeeded',
        'message.acknowledged', 'exchange.clarification-requested', 'exchange.clarification-given', 'exchange.delayed', 'exchange.answered', 'exchange.corrected']) {
        t.ok(events.has(e), `${agency} sees ${e}`)
      }
      t.equal(detail.messages.length, 8)
    }
  })
})

t.test('a refusal (L4) ends the exchange; a response after it is refused', async (t) => {
  const request = requestMessage(clock)
  const { exchangeId } = await accepted(t, request)
  const refusal = reply('refusal', request.id)
  await accepted(t, refusal)
  t.equal((await exchange(exchangeId)).status, 'refused')
  const ev = (await rt.pool.query("SELECT event FROM audit_events WHERE type = 'exchange.refused' AND exchange_id = $1", [exchangeId])).rows[0].event
  t.equal(ev.reason, 'L4(f)')
  await waitFor('the refusal pushed to AL-ASP', async () => (await messageStatus(rt, refusal.id)) === 'delivered')
  await refused(t, reply('response', request.id), 409, 'invalid-transition')
  await refused(t, reply('refusal', request.id), 409, 'invalid-transition')
  await refused(t, reply('delay-notice', request.id), 409, 'invalid-transition')
  await refused(t, reply('clarification', request.id), 409, 'invalid-transition')
})

t.test('only the counterpart replies, and only as its role allows', async (t) => {
  const request = requestMessage(clock)
  const { exchangeId } = await accepted(t, request)
  // A bystander learns nothing: another pair's message answers like an unknown one.
  await refused(t, reply('response', request.id, { from: 'ME-UP', to: 'AL-ASP' }), 422, 'unknown-exchange')
  await refused(t, reply('clarification', request.id, { from: 'ME-UP', to: 'RS-MUP' }), 422, 'unknown-exchange')
  await refused(t, reply('response', request.id, { from: 'AL-ASP', to: 'RS-MUP' }), 403, 'not-counterpart')
  await refused(t, reply('refusal', request.id, { from: 'AL-ASP', to: 'RS-MUP' }), 403, 'not-counterpart')
  await refused(t, reply('delay-notice', request.id, { from: 'AL-ASP', to: 'RS-MUP' }), 403, 'not-counterpart')
  await refused(t, reply('correction', request.id), 403, 'not-counterpart')
  await refused(t, reply('response', randomUUID()), 422, 'unknown-exchange')
  t.equal((await exchange(exchangeId)).status, 'accepted', 'the exchange is untouched')
})

t.test('own-initiative information (P1) opens an exchange without a request and is delivered', async (t) => {
  const spontaneous = reply('spontaneous', '', {}, {
    inReplyTo: undefined, evaluation: { source: 'B', information: '2' }, purpose: { statement: 'Own-initiative information on a shipment.' },
  })
  delete spontaneous.inReplyTo
  const { exchangeId, deadline } = await accepted(t, spontaneous)
  t.equal(deadline, null, 'no answer is owed')
  await waitFor('pushed to AL-ASP', async () => (await messageStatus(rt, spontaneous.id)) === 'delivered')
  const e = await exchange(exchangeId)
  t.match(e, { kind: 'spontaneous', requester: 'RS-MUP', responder: 'AL-ASP', status: 'delivered' })
})

t.test('a DPO of the sending agency reviews held messages (D3)', async (t) => {
  const minor = { dataSubjects: [{ ref: 'SUBJ-M1', category: 'victim', minor: true }] }
  const dpo = (agency: string) => ({ authorization: `Bearer ${tokenFor(app, agency, ['dpo'], `${agency.toLowerCase()}-dpo`)}` })
  const decide = (id: string, agency: string, payload: Record<string, unknown>, roles = ['dpo']) =>
    app.inject({ method: 'POST', url: `/v1/messages/${id}/review`, headers: { authorization: `Bearer ${tokenFor(app, agency, roles)}` }, payload })

  const held = requestMessage(clock, { to: 'ME-UP' }, minor)
  const { exchangeId } = await accepted(t, held, 'held')
  t.equal(await rt.queue.queue.getJob(held.id), undefined, 'a held message is not queued')
  t.notOk((await inboxIds('ME-UP')).includes(held.id), 'nor in the inbox')
  const list = (await app.inject({ url: '/v1/review/held', headers: dpo('AL-ASP') })).json()
  t.match(list.items.find((i: { messageId: string }) => i.messageId === held.id), { to: 'ME-UP', holds: [{ rule: 'D3' }] })
  t.equal((await app.inject({ url: '/v1/review/held', headers: dpo('ME-UP') })).json().items.length, 0, "the recipient's DPO sees none")

  t.equal((await decide(held.id, 'AL-ASP', { decision: 'release', justification: 'Looks necessary.' }, ['officer'])).statusCode, 403, 'an officer may not decide')
  t.equal((await decide(held.id, 'ME-UP', { decision: 'release', justification: 'Necessary to protect the child.' })).statusCode, 404, "the recipient's DPO may not")
  t.equal((await decide(held.id, 'AL-ASP', { decision: 'maybe', justification: 'x' })).statusCode, 400)
  t.equal((await decide(held.id, 'AL-ASP', { decision: 'release' })).statusCode, 400, 'a justification is required')

  clock.advance(HOUR)
  const res = await decide(held.id, 'AL-ASP', { decision: 'release', justification: 'Necessary to protect the child; proportionate.' })
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { messageId: held.id, exchangeId, decision: 'release', status: 'accepted', exchangeStatus: 'accepted' })
  await waitFor('the released message in the inbox', async () => (await inboxIds('ME-UP')).includes(held.id))
  const decided = (await rt.pool.query("SELECT event FROM audit_events WHERE type = 'review.decided' AND message_id = $1", [held.id])).rows[0].event
  t.match(decided, { outcome: 'ok', reason: 'D3', justification: { code: 'data-protection-review', hash: String }, actor: { kind: 'person', agency: 'AL-ASP', roles: ['dpo'] } })
  t.notMatch(JSON.stringify(decided), /protect the child/, 'the reason as written stays in the erasable store (A3)')
  t.equal(await count(rt, "SELECT 1 FROM audit_events WHERE type = 'message.accepted' AND message_id = $1", [held.id]), 1, 'logged as accepted on release')
  const again = await decide(held.id, 'AL-ASP', { decision: 'reject', justification: 'Changed my mind.' })
  t.equal(again.statusCode, 409)
  t.equal(again.json().code, 'invalid-message-state')

  const rejectedOne = requestMessage(clock, { to: 'ME-UP' }, minor)
  const second = await accepted(t, rejectedOne, 'held')
  const rejection = await decide(rejectedOne.id, 'AL-ASP', { decision: 'reject', justification: 'Not necessary for the purpose.' })
  t.equal(rejection.statusCode, 200)
  t.equal(await messageStatus(rt, rejectedOne.id), 'rejected')
  t.equal((await exchange(second.exchangeId)).status, 'closed')
  t.notOk((await inboxIds('ME-UP')).includes(rejectedOne.id), 'never delivered')

  t.test('a held reply takes effect on release; the state machine may refuse it if the exchange moved on', async (t) => {
    const request = requestMessage(clock)
    const { exchangeId } = await accepted(t, request)
    const heldResponse = reply('response', request.id, {}, minor)
    await accepted(t, heldResponse, 'held')
    t.equal((await exchange(exchangeId)).status, 'accepted', 'a held response does not answer yet')
    const released = await decide(heldResponse.id, 'RS-MUP', { decision: 'release', justification: 'The requester needs it to protect the child.' })
    t.equal(released.statusCode, 200, released.body)
    t.equal((await exchange(exchangeId)).status, 'answered', 'released: the exchange is answered')
    await waitFor('the released response pushed to AL-ASP', async () => (await messageStatus(rt, heldResponse.id)) === 'delivered')

    const request2 = requestMessage(clock)
    const x2 = await accepted(t, request2)
    const late = reply('response', request2.id, {}, minor)
    await accepted(t, late, 'held')
    await accepted(t, reply('refusal', request2.id))
    const refusedRelease = await decide(late.id, 'RS-MUP', { decision: 'release', justification: 'Released after all.' })
    t.equal(refusedRelease.statusCode, 409)
    t.equal(refusedRelease.json().code, 'invalid-transition')
    t.equal(await messageStatus(rt, late.id), 'held', 'still held: the DPO can reject it')
    t.equal((await exchange(x2.exchangeId)).status, 'refused')
  })
})
