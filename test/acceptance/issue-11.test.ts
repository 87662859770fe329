// Acceptance of issue 11 (items 1-7, 10, 11) through the real HTTP API only: signed messages to
// POST /v1/messages, reads through GET routes, the watcher driven by the injected clock. Each test
// states one behaviour of the issue, with its concrete examples, and cites the rule id.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import * as jose from 'jose'
import { ManualClock } from '../../src/config/clock.ts'
import { signingKeyFromJwk } from '../../src/config/keys.ts'
import { verifyNotification } from '../../src/delivery/signature.ts'
import { requestMessage, ROOT, sign, submit, tokenFor } from '../helpers.ts'
import { deliveryApp, startRecipient, waitFor, writeDirectory } from '../delivery/helpers.ts'

const HOUR = 3_600_000
const DAY = 24 * HOUR

// The sample directory, AL-ASP pushing to a webhook, and a Danish agency (Denmark cooperates with
// Europol under its own 2017 agreement, not the Europol Regulation) with a key made for this test.
const recipient = await startRecipient(t)
const directoryPath = writeDirectory(t, { 'AL-ASP': { webhook: recipient.url } })
const dkPair = await jose.generateKeyPair('EdDSA', { extractable: true })
const dkPublic = { ...(await jose.exportJWK(dkPair.publicKey)), kid: 'DK-NKC-test-1', alg: 'EdDSA', use: 'sig' }
const dkKey = signingKeyFromJwk({ ...(await jose.exportJWK(dkPair.privateKey)), kid: 'DK-NKC-test-1', alg: 'EdDSA' }, 'DK-NKC')
{
  const doc = JSON.parse(readFileSync(directoryPath, 'utf8'))
  doc.agencies.push({
    id: 'DK-NKC', name: 'Danish National Police, National Communication Centre', country: 'DK', timeZone: 'Europe/Copenhagen',
    clearance: 'EU_CONFIDENTIAL', languages: ['da', 'en'], competentAuthority: true, jwks: { keys: [dkPublic] }, delivery: { mode: 'pull' },
  })
  // An instrument's own refusal grounds and a party's reservation (the sample lists none).
  const pcc = doc.instruments.find((i: { id: string }) => i.id === 'PCC-SEE')
  pcc.reservations = [{ party: 'BG', crimeAreas: ['cybercrime'], note: 'test reservation', source: 'this test' }]
  doc.instruments.find((i: { id: string }) => i.id === 'BIL-AL-XK').refusalGrounds = ['a', 'f']
  writeFileSync(directoryPath, JSON.stringify(doc, null, 2))
}
const sample = JSON.parse(readFileSync(new URL('config/directory.sample.json', ROOT), 'utf8')) as { instruments: Record<string, any>[] }

const clock = new ManualClock(new Date())
const { app, rt, service } = await deliveryApp(t, { clock, config: { directoryPath, supervisors: ['EU-EUROPOL/supervisor-1'] } })
const jwks = (await app.inject('/.well-known/jwks.json')).json()

type Problem = { code: string; type: string; status: number; violations?: { rule: string; path: string; message: string }[]; acceptedLanguages?: string[] }
const post = async (m: Record<string, any>) => submit(app, await sign(m, m.from.agency === 'DK-NKC' ? { key: dkKey } : {}))
const accepted = async (t: Test, m: Record<string, any>, status = 'accepted') => {
  const res = await post(m)
  t.equal(res.statusCode, 202, `${m.kind} ${m.from.agency} -> ${m.to.agency} accepted${res.statusCode === 202 ? '' : `: ${res.body}`}`)
  t.equal(res.json().status, status)
  return res.json() as { exchangeId: string; messageId: string; deadline?: string }
}
/** Refused with a stable problem code and the rule id among its violations; nothing stored. */
const refused = async (t: Test, m: Record<string, any>, rule: string, path?: string, code = 'principle-violation', status = 422): Promise<Problem> => {
  const res = await post(m)
  t.equal(res.statusCode, status, `${m.kind} ${m.from.agency} -> ${m.to.agency} refused${res.statusCode === 422 ? '' : `: ${res.body}`}`)
  t.match(res.headers['content-type'], /application\/problem\+json/)
  const problem = res.json() as Problem
  t.equal(problem.code, code, 'a stable problem code')
  t.match(problem.type, /^urn:leix:problem:/)
  t.ok(problem.violations?.some((v) => v.rule === rule && (path === undefined || v.path === path)), `cites ${rule}${path ? ` at ${path}` : ''}`)
  const stored = await rt.pool.query('SELECT 1 FROM messages WHERE id = $1', [m.id])
  t.equal(stored.rowCount, 0, 'nothing stored')
  return problem
}
const headers = (agency: string, roles = ['officer'], sub?: string) => ({ authorization: `Bearer ${tokenFor(app, agency, roles, sub)}` })
const exchangeOf = async (agency: string, id: string) => {
  const res = await app.inject({ url: `/v1/exchanges/${id}`, headers: headers(agency) })
  if (res.statusCode !== 200) throw new Error(res.body)
  return res.json() as { deadline: string | null; overdue: boolean; status: string; timeline: { event: string }[] }
}
const overdueNow = async () => (await service.watcher.runOnce()).overdue

function reply (kind: string, request: Record<string, any>, patch: Record<string, unknown> = {}): Record<string, any> {
  const m: Record<string, any> = {
    ...requestMessage(clock, { from: request.to.agency, to: request.from.agency }),
    kind, inReplyTo: request.id, legalBasis: request.legalBasis, language: request.language,
    purpose: { statement: 'Reply in case CASE-2026-0815' }, body: { facts: 'The vehicle is registered to the subject.' },
  }
  if (kind === 'response') m.evaluation = { source: 'B', information: '2' }
  if (kind === 'refusal') m.refusal = { ground: 'f', reasons: 'Disclosure would harm an ongoing investigation.' }
  if (kind === 'delay-notice') m.delay = { ground: 'judicial-authorisation', expectedBy: new Date(clock.now().getTime() + 2 * HOUR).toISOString(), reasons: 'Awaiting judicial authorisation.' }
  return { ...m, ...patch }
}
const EU = { legalBasis: { instrument: 'EU-2023/977', article: 'Art. 5' } }
const URGENT = { urgency: { level: 'urgent', grounds: ['threat-to-life'], reasons: 'A witness has been threatened.' } }
const euRequest = (patch: Record<string, unknown> = {}) => requestMessage(clock, { from: 'AT-BK', to: 'SI-POL' }, { ...EU, language: 'en', ...patch })

t.test('item 1, L1/T2: deadlines belong to the request; a reply citing another instrument is refused', async (t) => {
  clock.set(Date.now())
  // The issue's example: SI-POL answers an urgent EU-2023/977 request with a delay notice citing PCC-SEE.
  for (const kind of ['delay-notice', 'response', 'clarification', 'refusal']) {
    const request = euRequest(URGENT)
    const { exchangeId, deadline } = await accepted(t, request)
    t.equal(new Date(deadline!).getTime() - clock.now().getTime(), 8 * HOUR, 'T2: urgent under EU-2023/977, 8 hours')
    const other = reply(kind, request, { legalBasis: { instrument: 'PCC-SEE', article: 'Art. 5' } })
    await refused(t, other, 'L1', '/legalBasis/instrument')
    const after = await exchangeOf('AT-BK', exchangeId)
    t.equal(new Date(after.deadline!).getTime(), new Date(deadline!).getTime(), `L1: a ${kind} citing PCC-SEE did not move the 8 hours`)
    t.equal(after.status, 'accepted')
  }
  // the same for a correction, a consent-request and a consent: every message of the exchange cites its instrument
  const request = euRequest()
  await accepted(t, request)
  const answer = reply('response', request, { handling: { code: 'H0', classification: 'BASIC_PROTECTION' } })
  await accepted(t, answer)
  const pcc = { legalBasis: { instrument: 'PCC-SEE', article: 'Art. 5' } }
  const correction = reply('correction', request, { ...pcc, inReplyTo: answer.id })
  delete correction.evaluation
  await refused(t, correction, 'L1', '/legalBasis/instrument')
  const ask = reply('consent-request', answer, { ...pcc, dataSubjects: [], consentRequest: { uses: [{ use: 'evidence' }] } })
  delete ask.evaluation
  await refused(t, ask, 'L1', '/legalBasis/instrument')
  const askRight = { ...ask, id: randomUUID(), ...EU }
  await accepted(t, askRight)
  const consent = reply('consent', askRight, { ...pcc, dataSubjects: [], consent: { decisions: [{ use: 'evidence', granted: true }] } })
  await refused(t, consent, 'L1', '/legalBasis/instrument')
})

t.test('item 2, T3: delay notices only as the Directive allows; a miss is never erased', async (t) => {
  clock.set(Date.now())
  const request = euRequest()
  const { exchangeId, deadline: d } = await accepted(t, request)
  const deadline = new Date(d!)
  t.equal(deadline.getTime() - clock.now().getTime() >= 7 * DAY - HOUR, true, 'T2: 7 calendar days')
  const notice = (delay: Record<string, unknown>) => reply('delay-notice', request, {
    delay: { ground: 'judicial-authorisation', reasons: 'Awaiting judicial authorisation.', expectedBy: new Date(deadline.getTime() + DAY).toISOString(), ...delay },
  })
  // a ground off the closed list
  for (const ground of ['workload', 'other', 'staff-shortage', 'holiday']) await refused(t, notice({ ground }), 'T3', '/delay/ground')
  // further than the ground allows (30 calendar days for judicial-authorisation in the sample)
  await refused(t, notice({ expectedBy: new Date(deadline.getTime() + 32 * DAY).toISOString() }), 'T3', '/delay/expectedBy')
  await accepted(t, notice({ expectedBy: new Date(deadline.getTime() + 20 * DAY).toISOString() }))
  // an update keeps the requester informed but never compounds the allowance (counted from the deadline)
  await refused(t, notice({ expectedBy: new Date(deadline.getTime() + 32 * DAY).toISOString() }), 'T3', '/delay/expectedBy')
  await accepted(t, notice({ expectedBy: new Date(deadline.getTime() + 25 * DAY).toISOString() }))
  t.equal((await exchangeOf('SI-POL', exchangeId)).overdue, false)

  // after the deadline: refused, even before the watcher flagged the miss
  const late = euRequest()
  const lateOpened = await accepted(t, late)
  clock.set(new Date(lateOpened.deadline!).getTime() + 1000)
  await refused(t, reply('delay-notice', late, { delay: { ground: 'judicial-authorisation', reasons: 'Awaiting a court.', expectedBy: new Date(clock.now().getTime() + DAY).toISOString() } }), 'T3')
  t.ok((await overdueNow()).includes(lateOpened.exchangeId), 'T2: the miss is flagged')
  await refused(t, reply('delay-notice', late, { delay: { ground: 'judicial-authorisation', reasons: 'Awaiting a court.', expectedBy: new Date(clock.now().getTime() + DAY).toISOString() } }), 'T3')
  // answering late is allowed, but the miss stays in the record and the lists
  await accepted(t, reply('response', late))
  const answered = await exchangeOf('AT-BK', lateOpened.exchangeId)
  t.equal(answered.overdue, true, 'T3: an answer after the deadline does not erase the miss')
  t.ok(answered.timeline.some((e) => e.event === 'exchange.overdue'))
  const listed = (await app.inject({ url: '/v1/exchanges?overdue=true', headers: headers('SI-POL') })).json().items.map((x: { id: string }) => x.id)
  t.ok(listed.includes(lateOpened.exchangeId), 'T3: still listed among the overdue')

  // an update after the delay it announced ran out: refused, and the exchange is overdue
  const delayed = euRequest()
  const dOpened = await accepted(t, delayed)
  const announced = new Date(dOpened.deadline!).getTime() + 2 * DAY
  await accepted(t, reply('delay-notice', delayed, { delay: { ground: 'judicial-authorisation', reasons: 'Awaiting a court.', expectedBy: new Date(announced).toISOString() } }))
  clock.set(announced + 1000)
  await refused(t, reply('delay-notice', delayed, { delay: { ground: 'judicial-authorisation', reasons: 'Still awaiting a court.', expectedBy: new Date(announced + DAY).toISOString() } }), 'T3')
  t.ok((await overdueNow()).includes(dOpened.exchangeId), 'T3: overdue once the announced delay is exceeded')
  // only the requested party announces a delay or states accessibility
  const own = euRequest()
  await accepted(t, own)
  const fromRequester = { ...reply('delay-notice', own), from: { agency: 'AT-BK', officer: 'at-1' }, to: { agency: 'SI-POL' } }
  const r = await post(fromRequester)
  t.ok([403, 422].includes(r.statusCode), `T3: the requester cannot announce a delay (${r.statusCode} ${r.json().code})`)
  await refused(t, euRequest({ ...URGENT, accessibility: { level: 'indirect', reason: 'Requester guesses.' } }), 'T2', '/accessibility')

  // a late "indirectly accessible" statement never clears a missed 8 hours
  const urgent = euRequest(URGENT)
  const u = await accepted(t, urgent)
  clock.set(new Date(u.deadline!).getTime() + HOUR)
  t.ok((await overdueNow()).includes(u.exchangeId))
  await accepted(t, reply('response', urgent, { ...URGENT, accessibility: { level: 'indirect', reason: 'Held by the vehicle registry.' } }))
  const missed = await exchangeOf('AT-BK', u.exchangeId)
  t.equal(missed.overdue, true, 'T2: a late indirect statement never clears a missed deadline')
  t.equal(missed.deadline, u.deadline, 'T2: nor moves it')
})

t.test('item 3, T2: profiles as the instruments say; calendar days across the clock change', async (t) => {
  // Friday 10:00 in Belgrade (and Ljubljana, SI-POL's zone: the same rules) before the spring and
  // the autumn change; 3 calendar days end Monday 10:00 local time: 71 and 73 elapsed hours.
  const CASES: [string, string, string][] = [
    ['spring', '2026-03-27T09:00:00.000Z', '2026-03-30T08:00:00.000Z'],
    ['autumn', '2026-10-23T08:00:00.000Z', '2026-10-26T09:00:00.000Z'],
  ]
  for (const [season, friday, monday] of CASES) {
    clock.set(new Date(friday).getTime())
    const request = euRequest(URGENT)
    const opened = await accepted(t, request)
    t.equal(opened.deadline, new Date(new Date(friday).getTime() + 8 * HOUR).toISOString(), `${season}: urgent starts at 8 hours`)
    clock.advance(HOUR)
    await accepted(t, reply('delay-notice', request, {
      ...URGENT, accessibility: { level: 'indirect', reason: 'Held by the vehicle registry.' },
      delay: { ground: 'judicial-authorisation', expectedBy: new Date(clock.now().getTime() + DAY).toISOString(), reasons: 'Awaiting judicial authorisation.' },
    }))
    t.equal((await exchangeOf('AT-BK', opened.exchangeId)).deadline, monday, `T2 ${season}: 3 days from Friday 10:00 end Monday 10:00 local time`)
    // 7 calendar days likewise end at the same wall-clock time a week on
    const normal = await accepted(t, euRequest())
    const week = new Date(new Date(monday).getTime() + 4 * DAY + HOUR).toISOString()
    t.equal(normal.deadline!.slice(11, 19), week.slice(11, 19), `T2 ${season}: 7 days end at 11:00 local time a week on`)
  }
  // PCC-SEE sets no time limit: the requester's answerBy, else the configured default; urgency invents no 8 hours.
  clock.set(new Date('2026-10-23T08:00:00.000Z').getTime())
  const answerBy = new Date(clock.now().getTime() + 5 * DAY).toISOString()
  t.equal((await accepted(t, requestMessage(clock, {}, { answerBy }))).deadline, answerBy, 'T2: PCC-SEE uses the requester\'s answerBy')
  t.equal((await accepted(t, requestMessage(clock, {}, URGENT))).deadline, '2026-11-06T09:00:00.000Z', 'T2: PCC-SEE urgent has the default 14 calendar days in Belgrade (RS-MUP), not 8 hours')
  await refused(t, requestMessage(clock, {}, { answerBy: new Date(clock.now().getTime() - HOUR).toISOString() }), 'T2', '/answerBy')
  // under EU-2023/977 the Directive sets the time, not the requester
  const euAnswerBy = await post(euRequest({ answerBy }))
  t.equal(euAnswerBy.statusCode, 422, `T2: answerBy is not for a 2023/977 request: ${euAnswerBy.body}`)
  t.notOk(sample.instruments.some((i) => /2006\/960/.test(String(i.deadlineProfile))), 'T2: no 2006/960 profile')
})

t.test('item 4, T2: the clarification pause runs from when the requester received the question', async (t) => {
  clock.set(Date.now())
  // Push requester (AL-ASP): the pause starts at the 2xx of the push, not at intake.
  const pushed = requestMessage(clock)
  const p = await accepted(t, pushed)
  const ask = reply('clarification', pushed)
  await accepted(t, ask)
  const deliveredAt = await waitFor('the question pushed to AL-ASP', async () => {
    const detail = (await app.inject({ url: `/v1/exchanges/${p.exchangeId}`, headers: headers('RS-MUP') })).json() as { messages: { id: string; deliveredAt: string | null }[] }
    return detail.messages.find((m) => m.id === ask.id)?.deliveredAt ?? undefined
  }) as string
  clock.advance(3 * DAY)
  await accepted(t, reply('clarification', ask, { language: 'en' }))
  t.equal(new Date((await exchangeOf('AL-ASP', p.exchangeId)).deadline!).getTime() - new Date(p.deadline!).getTime(),
    clock.now().getTime() - new Date(deliveredAt).getTime(), 'T2: the deadline moved by the time from push to answer')

  // Pull requester (RS-MUP): the question waits a day in its inbox; the requested party's clock runs.
  const pulled = requestMessage(clock, { from: 'RS-MUP', to: 'AL-ASP' })
  const q = await accepted(t, pulled)
  const question = reply('clarification', pulled)
  await accepted(t, question)
  clock.advance(DAY)
  const inbox = await app.inject({ url: '/v1/inbox', headers: headers('RS-MUP', ['system']) })
  t.ok(inbox.json().items.some((i: { messageId?: string; id?: string }) => (i.messageId ?? i.id) === question.id), 'the question is in RS-MUP\'s inbox')
  const ack = await app.inject({ method: 'POST', url: `/v1/inbox/${question.id}/ack`, headers: headers('RS-MUP', ['system']) })
  t.equal(ack.statusCode, 200, ack.body)
  clock.advance(2 * DAY)
  await accepted(t, reply('clarification', question, { language: 'en' }))
  t.equal(new Date((await exchangeOf('RS-MUP', q.exchangeId)).deadline!).getTime() - new Date(q.deadline!).getTime(), 2 * DAY,
    'T2: paused two days (receipt to answer), not the three since intake')
})

t.test('item 5, L1: instruments know their roles; self-addressed messages are refused', async (t) => {
  clock.set(Date.now())
  const transfer = { basis: 'safeguards', reference: 'Art. 25 safeguards' }
  const CASES: [string, string, string, number][] = [
    ['DE-BKA', 'AT-BK', 'EUROPOL-REG', 422], // member state to member state under the Europol Regulation
    ['EU-EUROPOL', 'AT-BK', 'EUROPOL-REG', 202],
    ['AT-BK', 'EU-EUROPOL', 'EUROPOL-REG', 202],
    ['AL-ASP', 'AL-ASP', 'EUROPOL-OA-AL', 422], // to itself
    ['AL-ASP', 'EU-EUROPOL', 'EUROPOL-OA-AL', 202],
    ['MK-MVR', 'AL-ASP', 'EUROPOL-OA-MK', 422], // partner to partner
    ['AL-ASP', 'MK-MVR', 'EUROPOL-OA-AL', 422],
    ['RS-MUP', 'RS-MUP', 'PCC-SEE', 422],
    ['AT-BK', 'AT-BK', 'EU-2023/977', 422],
    ['EU-EUROPOL', 'EU-EUROPOL', 'EUROPOL-REG', 422],
  ]
  for (const [from, to, instrument, status] of CASES) {
    const m = requestMessage(clock, { from, to }, { legalBasis: { instrument, article: 'Art. 1', transfer }, language: 'en' })
    if (status === 202) await accepted(t, m)
    else await refused(t, m, 'L1')
  }
  for (const kind of ['spontaneous']) {
    const m = { ...requestMessage(clock, { from: 'AL-ASP', to: 'AL-ASP' }), kind, evaluation: { source: 'B', information: '2' } }
    await refused(t, m, 'L1', '/to/agency')
  }
  // validity dates: EU-2023/977 applies from 12 December 2024
  clock.set(new Date('2024-12-11T12:00:00Z').getTime())
  await refused(t, euRequest(), 'L1')
  clock.set(new Date('2024-12-12T12:00:00Z').getTime())
  await accepted(t, euRequest())
  clock.set(Date.now())
  // no personal data under a working arrangement (Kosovo*, 2020)
  const wa = requestMessage(clock, { from: 'EU-EUROPOL', to: 'XK-KP' }, { legalBasis: { instrument: 'EUROPOL-WA-XK', transfer }, language: 'en', handling: { code: 'H0', classification: 'BASIC_PROTECTION' } })
  const problem = await refused(t, wa, 'L1', '/dataSubjects')
  t.match(problem.violations?.find((v) => v.path === '/dataSubjects')?.message, /personal data/)
  // the instrument's own refusal grounds: (a)-(h) of Art. 6(1), nothing else
  const request = requestMessage(clock)
  await accepted(t, request)
  const res = await post(reply('refusal', request, { refusal: { ground: 'z', reasons: 'Not on the list.' } }))
  t.equal(res.statusCode, 422, 'L4: a ground off the list is refused')
  t.ok(['principle-violation', 'schema-violation'].includes(res.json().code))
  await accepted(t, reply('refusal', request, { refusal: { ground: 'h', reasons: 'The originator has not consented.' } }))
})

t.test('item 5, L1/L4: a party\'s reservation and an instrument\'s own refusal grounds', async (t) => {
  clock.set(Date.now())
  const cyber = { crimeAreas: ['cybercrime'] }
  // BG's reservation binds it as sender and as recipient, and nobody else
  await refused(t, requestMessage(clock, { from: 'RS-MUP', to: 'BG-MVR' }, { ...cyber, language: 'bg' }), 'L1', '/crimeAreas')
  await refused(t, requestMessage(clock, { from: 'BG-MVR', to: 'RS-MUP' }, { ...cyber, language: 'sr', legalBasis: { instrument: 'PCC-SEE', article: 'Art. 5', transfer: { basis: 'safeguards', reference: 'PCC-SEE Art. 31' } } }), 'L1', '/crimeAreas')
  await accepted(t, requestMessage(clock, { from: 'AL-ASP', to: 'RS-MUP' }, cyber))
  // BIL-AL-XK (in this test) allows refusal grounds (a) and (f) only
  const request = requestMessage(clock, { from: 'AL-ASP', to: 'XK-KP' }, { legalBasis: { instrument: 'BIL-AL-XK', article: 'Art. 1' }, language: 'sq', handling: { code: 'H0', classification: 'BASIC_PROTECTION' } })
  await accepted(t, request)
  for (const ground of ['b', 'c', 'g', 'h']) await refused(t, reply('refusal', request, { refusal: { ground, reasons: 'Not under this instrument.' } }), 'L4')
  await accepted(t, reply('refusal', request, { refusal: { ground: 'a', reasons: 'Not available.' } }))
})

t.test('item 6, D6: an origin naming a received message under another provider, or a held one', async (t) => {
  clock.set(Date.now())
  const request = requestMessage(clock)
  await accepted(t, request)
  const data = reply('response', request, { handling: { code: 'H0', classification: 'BASIC_PROTECTION', consent: { onwardTo: ['ME-UP'] } } })
  await accepted(t, data)
  const forward = (origin: Record<string, unknown>) => ({ ...requestMessage(clock, { from: 'AL-ASP', to: 'ME-UP' }), kind: 'spontaneous', evaluation: { source: 'B', information: '2' }, origin: [origin], handling: { code: 'H0', classification: 'BASIC_PROTECTION' } })
  // the provider named is not the sender of the message named
  const res = await post(forward({ agency: 'MK-MVR', messageId: data.id }))
  t.equal(res.statusCode, 422, `D6: an origin naming the wrong provider is refused: ${res.body}`)
  await accepted(t, forward({ agency: 'RS-MUP', messageId: data.id }))
  // replies to a held message reveal nothing: the same answer as an unknown id
  const held = reply('response', request, { dataSubjects: [{ ref: 'SUBJ-M1', category: 'victim', minor: true }] })
  await accepted(t, held, 'held')
  const ask = (inReplyTo: string) => ({ ...reply('consent-request', held, { inReplyTo, dataSubjects: [], consentRequest: { uses: [{ use: 'evidence' }] } }), from: { agency: 'AL-ASP', officer: 'al-1' }, to: { agency: 'RS-MUP' } })
  const a = await post(ask(held.id))
  const b = await post(ask(randomUUID()))
  t.same([a.statusCode, a.json().code], [b.statusCode, b.json().code], 'D4/D6: a consent-request about a held message answers like one about an unknown message')
})

t.test('item 6, D6: use as evidence: H1 never under a standing condition, only an explicit consent', async (t) => {
  clock.set(Date.now())
  // handling code, standing evidence consent, explicit consent reply, the answer
  const CASES: [string, boolean, boolean, number][] = [
    ['H0', false, false, 422],
    ['H0', true, false, 202],
    ['H1', false, false, 422],
    ['H1', true, false, 422],
    ['H1', true, true, 202],
    ['H2', false, true, 202], // evidence use, given explicitly; kept by the holder (no onward transfer)
  ]
  for (const [code, standing, explicit, status] of CASES) {
    const request = requestMessage(clock)
    await accepted(t, request)
    const data = reply('response', request, { handling: { code, classification: 'BASIC_PROTECTION', ...(standing ? { consent: { evidence: true } } : {}) } })
    await accepted(t, data)
    if (explicit) {
      const ask = reply('consent-request', data, { dataSubjects: [], consentRequest: { uses: [{ use: 'evidence' }] } })
      delete ask.evaluation
      await accepted(t, ask)
      await accepted(t, reply('consent', ask, { dataSubjects: [], consent: { decisions: [{ use: 'evidence', granted: true }] } }))
    }
    // AL-ASP declares the use in a message to the provider itself: no onward transfer, so only the
    // use is judged (telling the provider is not its consent).
    const use = { ...requestMessage(clock, { from: 'AL-ASP', to: 'RS-MUP' }), kind: 'spontaneous', evaluation: { source: 'B', information: '2' }, origin: [{ agency: 'RS-MUP', messageId: data.id }], use: ['evidence'] }
    const res = await post(use)
    t.equal(res.statusCode, status, `D6: ${code}${standing ? ' with a standing evidence consent' : ''}${explicit ? ' and an explicit one' : ''}: ${res.statusCode === status ? '' : res.body}`)
    if (status === 422) t.same(res.json().violations.map((v: { rule: string; path: string }) => `${v.rule} ${v.path}`), ['D6 /use/0'])
  }
})

t.test('item 6, L5: data arriving in the EU needs no transfer basis; data leaving it does', async (t) => {
  clock.set(Date.now())
  await accepted(t, requestMessage(clock, { from: 'AL-ASP', to: 'AT-BK' }, { language: 'en' }))
  await refused(t, requestMessage(clock, { from: 'AT-BK', to: 'AL-ASP' }, { language: 'en' }), 'L5', '/legalBasis/transfer')
  await accepted(t, requestMessage(clock, { from: 'AT-BK', to: 'AL-ASP' }, { language: 'en', legalBasis: { instrument: 'PCC-SEE', article: 'Art. 5', transfer: { basis: 'safeguards', reference: 'PCC-SEE Art. 31' } } }))
})

t.test('item 6, D6/Q3: re-sharing needs the provider\'s consent; lineage lists every recipient', async (t) => {
  clock.set(Date.now())
  const info = (from: string, to: string, patch: Record<string, unknown> = {}): Record<string, any> => ({
    ...requestMessage(clock, { from, to }), kind: 'spontaneous', language: 'en', evaluation: { source: 'B', information: '2' }, ...patch,
  })
  const request = requestMessage(clock)
  await accepted(t, request)
  const h2 = reply('response', request, { language: 'en', handling: { code: 'H2', classification: 'BASIC_PROTECTION', consent: { onwardTo: ['ME-UP', 'MK-MVR'] } } })
  await accepted(t, h2)
  const h0 = reply('response', request, { language: 'en', handling: { code: 'H0', classification: 'BASIC_PROTECTION', consent: { onwardTo: ['ME-UP'] } } })
  await accepted(t, h0)
  const onward = (of: string, to: string, patch: Record<string, unknown> = {}) => info('AL-ASP', to, { origin: [{ agency: 'RS-MUP', messageId: of }], ...patch })

  // without consent: refused (H0, no standing condition for MK-MVR)
  await refused(t, onward(h0.id, 'MK-MVR'), 'D6', '/origin/0', 'consent-required')
  // H2 with a standing consent naming the recipient: refused
  await refused(t, onward(h2.id, 'ME-UP', { handling: { code: 'H2', classification: 'BASIC_PROTECTION' } }), 'D6', '/origin/0', 'consent-required')
  // H0 with a standing consent: accepted
  const viaStanding = onward(h0.id, 'ME-UP')
  await accepted(t, viaStanding)
  // an origin the sender never received: same refusal as an unknown id, whatever the id names
  const foreign = info('ME-UP', 'MK-MVR')
  await accepted(t, foreign)
  const answers = new Set<string>()
  for (const id of [foreign.id, request.id, randomUUID()]) {
    const p = await refused(t, info('AL-ASP', 'BA-DKPT', { origin: [{ agency: 'ME-UP', messageId: id }] }), 'D6', '/origin/0/messageId', 'consent-required')
    answers.add(JSON.stringify(p.violations?.map((v) => v.message.replace(id, 'ID'))))
  }
  t.equal(answers.size, 1, 'D6: nothing revealed about messages the sender did not receive')
  // data of a leix party named without its message: the consent must be named some other way
  await refused(t, info('AL-ASP', 'BA-DKPT', { origin: [{ agency: 'RS-MUP' }] }), 'D6', '/origin/0/messageId', 'consent-required')
  await accepted(t, info('AL-ASP', 'BA-DKPT', { origin: [{ agency: 'RS-MUP', authorisation: 'RS-MUP consent 2026/114' }] }))
  // H2 with an explicit consent reply: accepted
  const ask = reply('consent-request', h2, { language: 'en', dataSubjects: [], consentRequest: { uses: [{ use: 'onward-transfer', to: ['ME-UP'] }] } })
  delete ask.evaluation
  await accepted(t, ask)
  const consent = reply('consent', ask, { language: 'en', dataSubjects: [], consent: { decisions: [{ use: 'onward-transfer', to: ['ME-UP'], granted: true }] } })
  await accepted(t, consent)
  // the provider's code travels with its data: H2 data passed on as H0 is refused, even with consent
  await refused(t, onward(h2.id, 'ME-UP', { handling: { code: 'H0', classification: 'BASIC_PROTECTION' } }), 'D6', '/handling/code', 'consent-required')
  const viaConsent = onward(h2.id, 'ME-UP', { handling: { code: 'H2', classification: 'BASIC_PROTECTION' } })
  await accepted(t, viaConsent)
  await refused(t, onward(h2.id, 'MK-MVR', { handling: { code: 'H2', classification: 'BASIC_PROTECTION' } }), 'D6', '/origin/0', 'consent-required')
  // ME-UP passes it on again under AL-ASP's standing condition: a second hop
  const hop = info('ME-UP', 'MK-MVR', { origin: [{ agency: 'AL-ASP', messageId: viaConsent.id }], handling: { code: 'H2', classification: 'BASIC_PROTECTION', consent: { onwardTo: ['MK-MVR'] } } })
  await refused(t, hop, 'D6', '/origin/0', 'consent-required')
  const ask2 = { ...reply('consent-request', viaConsent, { language: 'en', dataSubjects: [], consentRequest: { uses: [{ use: 'onward-transfer', to: ['MK-MVR'] }] } }) }
  delete ask2.evaluation
  await accepted(t, ask2)
  const consent2 = reply('consent', ask2, { language: 'en', dataSubjects: [], consent: { decisions: [{ use: 'onward-transfer', to: ['MK-MVR'], granted: true }] } })
  await accepted(t, consent2)
  const hop2 = { ...hop, id: randomUUID() }
  await accepted(t, hop2)

  // Q3: the provider lists every message derived from its data, transitively, with its recipient
  const lineage = await app.inject({ url: `/v1/messages/${h2.id}/derived`, headers: headers('RS-MUP') })
  t.equal(lineage.statusCode, 200, lineage.body)
  t.same(lineage.json().derived.map((d: { messageId: string; recipient: string }) => `${d.recipient} ${d.messageId}`).sort(),
    [`ME-UP ${viaConsent.id}`, `MK-MVR ${hop2.id}`].sort(), 'Q3: every recipient of derived data')
  // nobody else learns whether the message or its lineage exists
  const missing = await app.inject({ url: `/v1/messages/${randomUUID()}/derived`, headers: headers('ME-UP') })
  for (const agency of ['AL-ASP', 'ME-UP', 'MK-MVR', 'AT-BK']) {
    const res = await app.inject({ url: `/v1/messages/${h2.id}/derived`, headers: headers(agency) })
    t.same([res.statusCode, res.json().code], [missing.statusCode, missing.json().code], `Q3: ${agency} gets the answer of a missing message`)
  }
  // the hop holder sees its own message's lineage without learning the upstream provider's other recipients
  const own = await app.inject({ url: `/v1/messages/${viaConsent.id}/derived`, headers: headers('AL-ASP') })
  if (own.statusCode === 200) t.notOk(JSON.stringify(own.json()).includes(viaStanding.id), 'Q3: a holder\'s lineage names only what derives from its own message')
})

t.test('item 7, P2: requests in a language the recipient lists, with its languages in the problem', async (t) => {
  clock.set(Date.now())
  const CASES: [string, string, string, string[]][] = [
    ['AL-ASP', 'RS-MUP', 'sq', ['sr', 'en']],
    ['RS-MUP', 'AL-ASP', 'sr', ['sq', 'en']],
    ['RS-MUP', 'ME-UP', 'de', ['cnr', 'en']],
    ['ME-UP', 'MK-MVR', 'sr', ['mk', 'sq', 'en']],
    ['AL-ASP', 'BA-DKPT', 'sq', ['bs', 'hr', 'sr', 'en']],
  ]
  for (const [from, to, language, languages] of CASES) {
    const problem = await refused(t, { ...requestMessage(clock, { from, to }), language }, 'P2', '/language')
    t.same(problem.acceptedLanguages, languages, `P2: ${to}'s languages in the problem`)
    t.match(problem.violations?.find((v) => v.rule === 'P2')?.message, new RegExp(`accepted: ${languages.join(', ')}`))
  }
  await accepted(t, { ...requestMessage(clock, { from: 'AL-ASP', to: 'RS-MUP' }), language: 'sr-Latn' })
  // English where the instrument allows it: 2023/977 (SI-POL lists sl, en) and the Europol agreements
  await accepted(t, euRequest({ language: 'en' }))
  await refused(t, euRequest({ language: 'hr' }), 'P2', '/language')
  // the answer in the request's language or one the requester accepts
  const request = { ...requestMessage(clock), language: 'sr' }
  await accepted(t, request)
  const p = await refused(t, reply('response', request, { language: 'de' }), 'P2', '/language')
  t.same(p.acceptedLanguages, ['sr', 'sq', 'en'])
  await accepted(t, reply('response', request, { language: 'sq' }))
})

t.test('item 10: the directory tells the truth', async (t) => {
  clock.set(Date.now())
  const transfer = { basis: 'safeguards', reference: 'Agreement' }
  // Denmark is not a party to the Europol Regulation; it works with Europol under its 2017 agreement.
  await refused(t, requestMessage(clock, { from: 'DK-NKC', to: 'EU-EUROPOL' }, { legalBasis: { instrument: 'EUROPOL-REG', article: 'Art. 7' }, language: 'en' }), 'L1')
  await refused(t, requestMessage(clock, { from: 'EU-EUROPOL', to: 'DK-NKC' }, { legalBasis: { instrument: 'EUROPOL-REG', article: 'Art. 7', transfer }, language: 'en' }), 'L1')
  await accepted(t, requestMessage(clock, { from: 'DK-NKC', to: 'EU-EUROPOL' }, { legalBasis: { instrument: 'EUROPOL-DK', article: 'Art. 1' }, language: 'en' }))
  // Nor to Directive 2023/977 (Protocol No 22)
  await refused(t, requestMessage(clock, { from: 'DK-NKC', to: 'AT-BK' }, { ...EU, language: 'en' }), 'L1')
  // Kosovo*: a working arrangement, no personal data; the name with its footnote
  const agencies = (await app.inject('/v1/agencies')).json().agencies as { id: string; country: string; countryName: string; footnote?: string }[]
  const xk = agencies.find((a) => a.id === 'XK-KP')
  t.match(xk, { country: 'XK', countryName: 'Kosovo*', footnote: '*This designation is without prejudice to positions on status, and is in line with UNSCR 1244/1999 and the ICJ Opinion on the Kosovo declaration of independence.' })
  for (const a of agencies) if (a.countryName.includes('Kosovo')) t.equal(a.countryName, 'Kosovo*', 'never Kosovo without the asterisk')
  // XK described as user-assigned wherever the directory's country code is described
  const openapi = await app.inject('/openapi.json')
  const docs = openapi.statusCode === 200 ? openapi.body : (await app.inject('/docs/json')).body
  if (/"XK/.test(docs) || /XK /.test(docs)) t.match(docs, /user-assigned/, 'the API description calls XK user-assigned')
  const schema = readFileSync(new URL('schemas/directory.schema.json', ROOT), 'utf8')
  t.match(schema, /XK is a user-assigned code/)
  t.notMatch(schema, /XK is an ISO/)
  // BiH: the Ministry of Security is Europol's contact point
  await accepted(t, requestMessage(clock, { from: 'EU-EUROPOL', to: 'BA-MSB' }, { legalBasis: { instrument: 'EUROPOL-OA-BA', transfer }, language: 'en' }))
  await refused(t, requestMessage(clock, { from: 'EU-EUROPOL', to: 'BA-DKPT' }, { legalBasis: { instrument: 'EUROPOL-OA-BA', transfer }, language: 'en' }), 'L1')
  // Eurojust's agreements with MK, ME, AL and RS
  for (const [country, agency] of [['MK', 'MK-MVR'], ['ME', 'ME-UP'], ['AL', 'AL-ASP'], ['RS', 'RS-MUP']]) {
    await accepted(t, requestMessage(clock, { from: 'EU-EUROJUST', to: agency! }, { legalBasis: { instrument: `EUROJUST-CA-${country}`, transfer }, language: 'en' }))
    await accepted(t, requestMessage(clock, { from: agency!, to: 'EU-EUROJUST' }, { legalBasis: { instrument: `EUROJUST-CA-${country}` }, language: 'en' }))
    await refused(t, requestMessage(clock, { from: agency!, to: 'EU-EUROPOL' }, { legalBasis: { instrument: `EUROJUST-CA-${country}` }, language: 'en' }), 'L1')
  }
  // every instrument cites its source
  for (const i of sample.instruments) {
    t.ok(i.source?.title && /^\d{4}-\d{2}-\d{2}$/.test(i.source?.date) && i.source?.publishedIn, `${i.id} cites its source (title, date, where published)`)
  }
})

t.test('item 11, T2: deadline warnings at 75 % and 1 h, pushed and listed for both parties', async (t) => {
  clock.set(Date.now())
  const request = requestMessage(clock, { from: 'AL-ASP', to: 'RS-MUP' })
  const opened = await accepted(t, request)
  const start = clock.now().getTime()
  const deadline = new Date(opened.deadline!).getTime()
  const warned = async () => (await service.watcher.warnOnce()).filter((x) => x === opened.exchangeId)
  clock.set(start + Math.floor(0.75 * (deadline - start)) - 60_000)
  t.same(await warned(), [], 'not before 75 %')
  clock.set(start + Math.ceil(0.75 * (deadline - start)))
  t.same(await warned(), [opened.exchangeId], '75 %')
  clock.set(deadline - HOUR - 60_000)
  t.same(await warned(), [], 'once')
  clock.set(deadline - HOUR)
  t.same(await warned(), [opened.exchangeId], '1 h before')
  for (const agency of ['AL-ASP', 'RS-MUP']) {
    const items = (await app.inject({ url: '/v1/notifications', headers: headers(agency) })).json().items
      .filter((n: { exchangeId: string; type: string }) => n.exchangeId === opened.exchangeId && n.type === 'exchange.deadline-warning')
    t.equal(items.length, 2, `${agency} lists both warnings`)
  }
  const pushed = await waitFor('both warnings pushed to AL-ASP', async () => {
    const found = []
    for (const r of recipient.notifications) {
      const n = await verifyNotification(r.body, jwks)
      if (n.exchangeId === opened.exchangeId && n.type === 'exchange.deadline-warning') found.push(n)
    }
    return found.length === 2 ? found : undefined
  })
  t.equal(pushed.length, 2)
})
