// Through intake with a real database: instruments know their roles (L1), language (P2) on
// openings and on replies against the language stored on the exchange, the problem's
// acceptedLanguages, and the agencies API's country names with the Kosovo* footnote.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { buildTestApp, count, requestMessage, sign, submit } from '../helpers.ts'
import { KOSOVO_FOOTNOTE } from '../../src/directory/names.ts'

const { app, rt, clock } = await buildTestApp(t)
const DAY = 86_400_000

const send = async (m: Record<string, any>) => submit(app, await sign(m))
const refused = async (t: Test, m: Record<string, any>, rule: string) => {
  const res = await send(m)
  t.equal(res.statusCode, 422, `${m.kind} ${m.from.agency} -> ${m.to.agency} refused: ${res.body}`)
  t.ok(res.json().violations.some((v: { rule: string }) => v.rule === rule), `cites ${rule}`)
  t.equal(await count(rt, 'SELECT 1 FROM messages WHERE id = $1', [m.id]), 0, 'nothing stored')
  return res.json()
}
const accepted = async (t: Test, m: Record<string, any>) => {
  const res = await send(m)
  t.equal(res.statusCode, 202, `${m.kind} ${m.from.agency} -> ${m.to.agency} in ${m.language}: ${res.body}`)
  return res.json() as { exchangeId: string }
}

/** A reply of `kind` answering `to`, valid for its kind. */
function replyOf (kind: string, request: Record<string, any>, language: string): Record<string, any> {
  const fromRequester = kind === 'correction'
  const m: Record<string, any> = {
    ...requestMessage(clock, fromRequester ? { from: request.from.agency, to: request.to.agency } : { from: request.to.agency, to: request.from.agency }),
    kind, inReplyTo: request.id, language, purpose: { statement: 'Reply in case CASE-2026-0815' },
    body: { facts: 'The vehicle is registered to the subject.', assessments: 'Likely the organiser.' },
  }
  if (kind === 'response') m.evaluation = { source: 'B', information: '2' }
  if (kind === 'refusal') m.refusal = { ground: 'f', reasons: 'Disclosure would harm an ongoing investigation.' }
  if (kind === 'delay-notice') m.delay = { ground: 'judicial-authorisation', expectedBy: new Date(clock.now().getTime() + 3 * DAY).toISOString(), reasons: 'Awaiting judicial authorisation.' }
  return m
}

t.test('L1: the issue\'s pairs through intake', async (t) => {
  const cases: [string, string, string, string][] = [
    ['DE-BKA', 'AT-BK', 'EUROPOL-REG', '/to/agency'], // member state and member state under the Europol Regulation
    ['AL-ASP', 'AL-ASP', 'EUROPOL-OA-AL', '/to/agency'], // to itself
    ['AL-ASP', 'AL-ASP', 'PCC-SEE', '/to/agency'],
    ['EU-EUROPOL', 'BA-DKPT', 'EUROPOL-OA-BA', '/to/agency'], // not BiH's contact point
    ['MK-MVR', 'RS-MUP', 'EUROPOL-OA-MK', '/to/agency'], // partner and partner (RS is no party to OA-MK)
  ]
  for (const [from, to, instrument, path] of cases) {
    const m = requestMessage(clock, { from, to }, { legalBasis: { instrument, transfer: { basis: 'safeguards', reference: 'r' } } })
    const problem = await refused(t, m, 'L1')
    t.ok(problem.violations.some((v: { rule: string; path: string }) => v.rule === 'L1' && v.path === path), `${from} -> ${to} under ${instrument}: L1 at ${path}`)
  }
  const wa = requestMessage(clock, { from: 'EU-EUROPOL', to: 'XK-KP' }, { legalBasis: { instrument: 'EUROPOL-WA-XK', transfer: { basis: 'safeguards', reference: 'WA' } }, handling: { code: 'H0', classification: 'BASIC_PROTECTION' } })
  const problem = await refused(t, wa, 'L1')
  t.match(problem.violations.find((v: { path: string }) => v.path === '/dataSubjects')?.message, /EUROPOL-WA-XK allows no exchange of personal data/)
  const { personLink: _p, ...purpose } = wa.purpose
  await accepted(t, { ...wa, id: randomUUID(), dataSubjects: [], purpose })
  await accepted(t, requestMessage(clock, { from: 'EU-EUROPOL', to: 'BA-MSB' }, { legalBasis: { instrument: 'EUROPOL-OA-BA', transfer: { basis: 'safeguards', reference: 'OA-BA' } } }))
})

t.test('P2: a request in a language the recipient does not list is refused with the accepted languages', async (t) => {
  // RS-MUP lists sr and en; PCC-SEE does not add English.
  for (const language of ['sq', 'de', 'mk', 'sq-AL']) {
    const problem = await refused(t, { ...requestMessage(clock), language }, 'P2')
    t.same(problem.acceptedLanguages, ['sr', 'en'], `${language}: acceptedLanguages`)
    t.match(problem.violations.find((v: { rule: string }) => v.rule === 'P2').message, /accepted: sr, en/)
  }
  const missing = { ...requestMessage(clock) }
  delete missing.language
  const res = await send(missing)
  t.equal(res.statusCode, 422, 'language is required by the schema')
  t.equal(res.json().code, 'schema-violation')
  t.match(res.json().errors, [{ path: '/language', message: 'is required' }])
})

t.test('P2: replies in the request\'s language or one their recipient lists, against the language stored on the exchange', async (t) => {
  for (const kind of ['response', 'refusal', 'clarification', 'delay-notice', 'correction']) {
    const request = { ...requestMessage(clock), language: 'sr-Latn' }
    const { exchangeId } = await accepted(t, request)
    const row = (await rt.pool.query('SELECT language FROM exchanges WHERE id = $1', [exchangeId])).rows[0]
    t.equal(row.language, 'sr-Latn', 'the exchange keeps the request language')
    // The recipient of a correction is RS-MUP (sr, en); of the others AL-ASP (sq, en).
    const recipientLanguages = kind === 'correction' ? ['sr', 'en'] : ['sq', 'en']
    const problem = await refused(t, replyOf(kind, request, 'de'), 'P2')
    t.same(problem.acceptedLanguages, ['sr-Latn', ...recipientLanguages], `${kind}: acceptedLanguages`)
    await accepted(t, replyOf(kind, request, kind === 'correction' ? 'sr' : 'sq'))
  }
  const request = { ...requestMessage(clock), language: 'sr-Latn' }
  await accepted(t, request)
  await accepted(t, replyOf('response', request, 'sr-Latn-RS'))
})

t.test('the agencies API names countries, Kosovo* with its footnote', async (t) => {
  const agencies = (await app.inject('/v1/agencies')).json().agencies as { id: string; countryName: string; footnote?: string; name: string }[]
  const byId = new Map(agencies.map((a) => [a.id, a]))
  t.match(byId.get('XK-KP'), { countryName: 'Kosovo*', footnote: KOSOVO_FOOTNOTE, name: /^Kosovo\* / })
  t.match(byId.get('BA-MSB'), { countryName: 'Bosnia and Herzegovina', name: 'Ministry of Security of Bosnia and Herzegovina' })
  t.match(byId.get('EU-EUROJUST'), { countryName: 'European Union' })
  for (const a of agencies) if (a.id.startsWith('XK-')) t.equal(a.footnote, KOSOVO_FOOTNOTE); else t.notOk('footnote' in a, `${a.id}: no footnote`)
  t.match(KOSOVO_FOOTNOTE, /^\*This designation is without prejudice to positions on status, and is in line with UNSCR 1244\/1999 and the ICJ Opinion on the Kosovo declaration of independence\.$/)
})
