// Onward use of received data through the whole pipeline (D6, L5, Q3): origins must name a message
// the sender received, consent by a consent-request/consent pair or a standing condition (never
// standing for H2), the lineage of passed-on data for its provider, and a correction that reaches
// every agency holding derived data.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { ManualClock } from '../../src/config/clock.ts'
import { count, requestMessage, sign, submit, tokenFor } from '../helpers.ts'
import { deliveryApp, writeDirectory } from '../delivery/helpers.ts'

// Every agency pulls from its inbox: a message accepted for it is in its hands (D6 "received").
const directoryPath = writeDirectory(t, {})
const clock = new ManualClock(new Date())
const { app, rt } = await deliveryApp(t, { clock, config: { directoryPath, supervisors: ['EU-EUROPOL/supervisor-1'] } })

const send = async (m: Record<string, any>) => submit(app, await sign(m))
const accepted = async (t: Test, m: Record<string, any>, status: 'accepted' | 'held' = 'accepted') => {
  const res = await send(m)
  t.equal(res.statusCode, 202, `${m.kind} from ${m.from.agency} to ${m.to.agency}: ${res.body}`)
  t.equal(res.json().status, status)
  return res.json() as { exchangeId: string; messageId: string }
}
const refused = async (t: Test, m: Record<string, any>, status: number, code: string) => {
  const res = await send(m)
  t.equal(res.statusCode, status, `${m.kind} from ${m.from.agency} refused: ${res.body}`)
  t.equal(res.json().code, code)
  t.equal(await count(rt, 'SELECT 1 FROM messages WHERE id = $1', [m.id]), 0, 'nothing stored')
  return res.json() as { violations?: { rule: string; path: string; message: string }[] }
}

/** A message of `kind` from `from` to `to` carrying information (an evaluation), valid for its kind. */
function message (kind: string, from: string, to: string, patch: Record<string, unknown> = {}): Record<string, any> {
  const base = requestMessage(clock, { from, to })
  const m: Record<string, any> = {
    ...base, kind, purpose: { statement: 'Information in case CASE-2026-0815' },
    body: { facts: 'The vehicle is registered to the subject.', assessments: 'Likely the organiser.' },
  }
  if (kind === 'response' || kind === 'spontaneous') m.evaluation = { source: 'B', information: '2' }
  if (kind === 'consent-request' || kind === 'consent') m.dataSubjects = []
  return { ...m, ...patch }
}
const handling = (code: string, consent?: Record<string, unknown>) => ({ code, classification: 'BASIC_PROTECTION', ...(consent ? { consent } : {}) })
const token = (agency: string, roles = ['officer'], sub?: string) => ({ authorization: `Bearer ${tokenFor(app, agency, roles, sub)}` })
const exchangeStatus = async (id: string) => (await rt.pool.query('SELECT status FROM exchanges WHERE id = $1', [id])).rows[0]?.status

// RS-MUP answers AL-ASP's request with H2 data it lets go to ME-UP only by explicit consent,
// though its handling conditions name ME-UP (H2: a standing condition never suffices).
const request = requestMessage(clock)
const response = message('response', 'RS-MUP', 'AL-ASP', { inReplyTo: request.id, handling: handling('H2', { onwardTo: ['ME-UP'], evidence: true }) })
let opened: { exchangeId: string } = { exchangeId: '' }
t.before(async () => {
  const res = await send(request)
  if (res.statusCode !== 202) throw new Error(res.body)
  opened = res.json()
  const answered = await send(response)
  if (answered.statusCode !== 202) throw new Error(answered.body)
})

t.test('D6: an origin must name a message the sender received; every other id gets the same answer', async (t) => {
  const other = message('spontaneous', 'ME-UP', 'MK-MVR')
  await accepted(t, other)
  const held = message('response', 'RS-MUP', 'AL-ASP', { inReplyTo: request.id, dataSubjects: [{ ref: 'SUBJ-M1', category: 'victim', minor: true }] })
  await accepted(t, held, 'held')
  const answers: string[] = []
  // another pair's message, the sender's own, one held from it (D4), one that does not exist
  for (const [name, id] of [['another pair\'s', other.id], ['its own', request.id], ['a held', held.id], ['an unknown', randomUUID()]] as const) {
    const forward = message('spontaneous', 'AL-ASP', 'MK-MVR', { origin: [{ agency: 'RS-MUP', messageId: id }] })
    const problem = await refused(t, forward, 422, 'consent-required')
    t.same(problem.violations?.map((v) => [v.rule, v.path]), [['D6', '/origin/0/messageId']], `D6: ${name} message as origin`)
    answers.push(problem.violations![0]!.message.replace(id, 'ID'))
  }
  t.equal(new Set(answers).size, 1, 'D6: the same words for all, so nothing is revealed about other messages')
  t.ok(await count(rt, "SELECT 1 FROM audit_events WHERE type = 'message.rejected' AND event ->> 'reason' = 'consent-required'") >= 4, 'A2: each refusal is a rejection event')
})

t.test('D6: passing on H2 data needs an explicit consent reply; consent-request and consent fit the exchange', async (t) => {
  const forward = () => message('spontaneous', 'AL-ASP', 'ME-UP', { origin: [{ agency: 'RS-MUP', messageId: response.id }], handling: handling('H2', { onwardTo: ['MK-MVR'] }) })
  const first = await refused(t, forward(), 422, 'consent-required')
  t.same(first.violations?.map((v) => [v.rule, v.path]), [['D6', '/origin/0']], 'D6: H2 with only a standing condition')
  t.match(first.violations?.[0]?.message, new RegExp(`${response.id}.*RS-MUP.*H2.*ME-UP`), 'the violation names the origin message and the missing consent')
  const back = message('spontaneous', 'AL-ASP', 'RS-MUP', { origin: [{ agency: 'RS-MUP', messageId: response.id }] })
  await accepted(t, back)

  const ask = message('consent-request', 'AL-ASP', 'RS-MUP', { inReplyTo: response.id, consentRequest: { uses: [{ use: 'onward-transfer', to: ['ME-UP'] }, { use: 'evidence' }] } })
  // Only the holder asks, only the provider answers, and only a consent-request.
  await refused(t, { ...ask, id: randomUUID(), from: { agency: 'RS-MUP', officer: 'rs-1' }, to: { agency: 'AL-ASP' } }, 403, 'not-counterpart')
  await accepted(t, ask)
  t.equal(await exchangeStatus(opened.exchangeId), 'answered', 'a consent-request moves no state')
  const decide = (granted: boolean, patch: Record<string, unknown> = {}) =>
    message('consent', 'RS-MUP', 'AL-ASP', { inReplyTo: ask.id, consent: { decisions: [{ use: 'onward-transfer', to: ['ME-UP'], granted }, { use: 'evidence', granted: false }] }, ...patch })
  await refused(t, decide(true, { from: { agency: 'AL-ASP', officer: 'al-1' }, to: { agency: 'RS-MUP' } }), 403, 'not-counterpart')
  await refused(t, decide(true, { from: { agency: 'ME-UP', officer: 'me-1' }, to: { agency: 'AL-ASP' } }), 422, 'unknown-exchange')
  const notAsked = await refused(t, decide(true, { inReplyTo: response.id, to: { agency: 'AL-ASP' }, from: { agency: 'RS-MUP', officer: 'rs-1' } }), 422, 'principle-violation')
  t.same(notAsked.violations?.map((v) => [v.rule, v.path]), [['D6', '/inReplyTo']], 'D6: a consent answers a consent-request')

  await accepted(t, decide(false))
  await refused(t, forward(), 422, 'consent-required')
  await accepted(t, decide(true))
  t.equal(await exchangeStatus(opened.exchangeId), 'answered', 'a consent moves no state')
  const passed = forward()
  await accepted(t, passed)
  const evidence = await refused(t, { ...forward(), use: ['evidence'] }, 422, 'consent-required')
  t.same(evidence.violations?.map((v) => [v.rule, v.path]), [['D6', '/use/0']], 'D6: evidence refused by the consent reply, though the standing condition allowed it')

  // ME-UP passes AL-ASP's message on to MK-MVR: a second hop. The data kept its H2 code, so
  // AL-ASP's standing condition does not suffice; AL-ASP consents explicitly.
  const hopOf = () => message('spontaneous', 'ME-UP', 'MK-MVR', { origin: [{ agency: 'AL-ASP', messageId: passed.id }] })
  await refused(t, hopOf(), 422, 'consent-required')
  const askHop = message('consent-request', 'ME-UP', 'AL-ASP', { inReplyTo: passed.id, consentRequest: { uses: [{ use: 'onward-transfer', to: ['MK-MVR'] }] } })
  await accepted(t, askHop)
  await accepted(t, message('consent', 'AL-ASP', 'ME-UP', { inReplyTo: askHop.id, consent: { decisions: [{ use: 'onward-transfer', to: ['MK-MVR'], granted: true }] } }))
  const hop = hopOf()
  await accepted(t, hop)
  await refused(t, message('spontaneous', 'ME-UP', 'BA-DKPT', { origin: [{ agency: 'AL-ASP', messageId: passed.id }] }), 422, 'consent-required')

  t.test('Q3: the provider sees where its data went, transitively; nobody else does', async (t) => {
    const lineage = await app.inject({ url: `/v1/messages/${response.id}/derived`, headers: token('RS-MUP') })
    t.equal(lineage.statusCode, 200, lineage.body)
    const body = lineage.json()
    // Nearest first; at one depth (all received at the same instant here) by id.
    const byDepth = (a: (string | number)[], b: (string | number)[]) => Number(a[1]) - Number(b[1]) || String(a[0]).localeCompare(String(b[0]))
    t.same(body.derived.map((d: { messageId: string; depth: number; recipient: string }) => [d.messageId, d.depth, d.recipient]),
      [[back.id, 1, 'RS-MUP'], [passed.id, 1, 'ME-UP'], [hop.id, 2, 'MK-MVR']].sort(byDepth), 'every message that carried the data, nearest first')
    t.equal(body.provider, 'RS-MUP')
    t.equal(body.exchanges.length, 3)
    for (const [agency, roles] of [['AL-ASP', ['officer']], ['ME-UP', ['system']], ['RS-MUP', ['auditor']]] as const) {
      const res = await app.inject({ url: `/v1/messages/${response.id}/derived`, headers: token(agency, [...roles]) })
      t.ok([403, 404].includes(res.statusCode), `${agency} ${roles.join()} may not see RS-MUP's lineage (${res.statusCode})`)
    }
    const missing = await app.inject({ url: `/v1/messages/${randomUUID()}/derived`, headers: token('AL-ASP') })
    const other = await app.inject({ url: `/v1/messages/${response.id}/derived`, headers: token('AL-ASP') })
    t.same([missing.statusCode, missing.json().code], [other.statusCode, other.json().code], 'the same 404 as a missing message')
    const supervisor = await app.inject({ url: `/v1/messages/${response.id}/derived`, headers: token('EU-EUROPOL', ['supervisor'], 'supervisor-1') })
    t.equal(supervisor.statusCode, 200, 'a supervisor sees it')
    t.equal(await count(rt, "SELECT 1 FROM audit_events WHERE type = 'lineage.read' AND message_id = $1", [response.id]), 2, 'A1: each read is recorded')
    const timeline = (await app.inject({ url: `/v1/exchanges/${opened.exchangeId}`, headers: token('RS-MUP') })).json().timeline as { event: string }[]
    t.notOk(timeline.some((e) => e.event === 'lineage.read'), 'a lineage read is not a hop of the exchange it names')
  })

  t.test('Q3: a correction reaches every agency holding derived data, not only the counterpart', async (t) => {
    const correction = message('correction', 'RS-MUP', 'AL-ASP', { inReplyTo: response.id, evaluation: undefined })
    delete correction.evaluation
    await accepted(t, correction)
    const notified = async (agency: string) => (await app.inject({ url: '/v1/notifications', headers: token(agency) })).json().items
      .filter((n: { type: string }) => n.type === 'message.corrected')
    const me = await notified('ME-UP')
    t.same(me.map((n: { messageId: string; details: { correctedMessageId: string; correctionMessageId: string } }) => [n.messageId, n.details.correctedMessageId, n.details.correctionMessageId]),
      [[passed.id, response.id, correction.id]], 'ME-UP is told, about the message it holds')
    t.same((await notified('MK-MVR')).map((n: { messageId: string }) => n.messageId), [hop.id], 'MK-MVR, two hops away, is told')
    t.same(await notified('AL-ASP'), [], 'the counterpart gets the correction itself')
    t.same(await notified('RS-MUP'), [], 'the provider is not told of its own correction')
    const event = await rt.pool.query("SELECT event FROM audit_events WHERE type = 'correction.propagated' AND message_id = $1", [correction.id])
    t.same(event.rows[0]?.event.recipients, ['ME-UP', 'MK-MVR'], 'A1: the event names who was told')
  })

  t.test('D6, Q3: a consent or correction held for review has no effect until its release', async (t) => {
    const minor = { dataSubjects: [{ ref: 'SUBJ-M1', category: 'victim', minor: true }] }
    const release = (id: string) => app.inject({
      method: 'POST', url: `/v1/messages/${id}/review`, headers: { ...token('RS-MUP', ['dpo']), 'content-type': 'application/json' },
      payload: { decision: 'release', justification: 'Reviewed: necessary and proportionate.' },
    })
    const direct = () => message('spontaneous', 'AL-ASP', 'MK-MVR', { origin: [{ agency: 'RS-MUP', messageId: response.id }] })
    const ask = message('consent-request', 'AL-ASP', 'RS-MUP', { inReplyTo: response.id, consentRequest: { uses: [{ use: 'onward-transfer', to: ['MK-MVR'] }] } })
    await accepted(t, ask)
    const consent = message('consent', 'RS-MUP', 'AL-ASP', { inReplyTo: ask.id, consent: { decisions: [{ use: 'onward-transfer', to: ['MK-MVR'], granted: true }] }, ...minor })
    await accepted(t, consent, 'held')
    await refused(t, direct(), 422, 'consent-required')
    t.equal((await release(consent.id)).statusCode, 200)
    const passedOn = direct()
    await accepted(t, passedOn)

    const notices = async () => (await app.inject({ url: '/v1/notifications', headers: token('MK-MVR') })).json().items
      .filter((n: { type: string }) => n.type === 'message.corrected').map((n: { messageId: string; details: { correctionMessageId: string } }) => [n.details.correctionMessageId, n.messageId])
    const correction = message('correction', 'RS-MUP', 'AL-ASP', { inReplyTo: response.id, ...minor })
    delete correction.evaluation
    await accepted(t, correction, 'held')
    const before = await notices()
    t.notOk(before.some(([c]: string[]) => c === correction.id), 'Q3: nobody is told of a held correction')
    t.equal((await release(correction.id)).statusCode, 200)
    const after = (await notices()).filter(([c]: string[]) => c === correction.id).map(([, m]: string[]) => m).sort()
    t.same(after, [hop.id, passedOn.id].sort(), 'Q3: on release, MK-MVR is told of each message it holds')
  })
})

t.test('L5 through intake: data arriving in the EU needs no transfer basis; data leaving it does', async (t) => {
  const basis = { instrument: 'PCC-SEE', article: 'Art. 5', transfer: { basis: 'safeguards', reference: 'PCC-SEE Art. 31: appropriate safeguards' } }
  // from, to, with a transfer basis, the answer
  const CASES: [string, string, boolean, number][] = [
    ['AL-ASP', 'AT-BK', false, 202],
    ['AT-BK', 'AL-ASP', false, 422],
    ['AT-BK', 'AL-ASP', true, 202],
    ['SI-POL', 'AT-BK', false, 202],
    ['RS-MUP', 'ME-UP', false, 202],
  ]
  for (const [from, to, withBasis, status] of CASES) {
    const m = requestMessage(clock, { from, to }, withBasis ? { legalBasis: basis } : {})
    const res = await send(m)
    t.equal(res.statusCode, status, `L5: ${from} to ${to} ${withBasis ? 'with' : 'without'} a transfer basis: ${res.body}`)
    if (status === 422) t.same(res.json().violations.map((v: { rule: string; path: string }) => [v.rule, v.path]), [['L5', '/legalBasis/transfer']])
  }
})
