import t from 'tap'
import { compileMessageValidator } from '../../src/intake/message.ts'
import type { MessageValidation } from '../../src/intake/message.ts'
import { KINDS, messageOf, request } from './fixtures.ts'

const validate = compileMessageValidator()

/** Validates `value` as it would arrive: through JSON text. */
const check = (value: unknown): MessageValidation => validate(JSON.parse(JSON.stringify(value)))
const paths = (r: MessageValidation): string[] => (r.ok ? [] : r.errors.map((e) => e.path))
/** Replaces a `"body": {...}` with raw JSON text, so that keys like `__proto__` are own properties. */
const withRawBody = (raw: string): unknown => {
  const { body: _body, ...rest } = request()
  return JSON.parse(`${JSON.stringify(rest).slice(0, -1)},"body":${raw}}`)
}

t.test('a valid message passes and is returned as is', async (t) => {
  const r = check(request())
  t.ok(r.ok)
  if (r.ok) t.same(r.message, request())
})

t.test('missing required fields are reported with a pointer to each', async (t) => {
  const { caseRef: _c, body: _b, ...m } = request()
  t.same(paths(check(m)).sort(), ['/body', '/caseRef'])
  const noOfficer = { ...request(), from: { agency: 'AL-ASP' } }
  t.same(paths(check(noOfficer)), ['/from/officer'])
  const { kind: _k, ...noKind } = request()
  t.same(paths(check(noKind)), ['/kind'], 'no kind-dependent noise')
})

t.test('extra fields are rejected, at the top and in nested objects', async (t) => {
  t.same(paths(check({ ...request(), priority: 'high' })), ['/priority'])
  t.same(paths(check({ ...request(), to: { agency: 'RS-MUP', unit: 'x' } })), ['/to/unit'])
  const subject = { ...request(), dataSubjects: [{ ref: 'P1', category: 'suspect', name: 'John Smith' }] }
  t.same(paths(check(subject)), ['/dataSubjects/0/name'])
})

t.test('formats, patterns, enums and bounds', async (t) => {
  t.same(paths(check({ ...request(), id: 'not-a-uuid' })), ['/id'])
  t.same(paths(check({ ...request(), createdAt: '2026-03-02 10:00' })), ['/createdAt'])
  t.same(paths(check({ ...request(), from: { agency: 'al-asp', officer: 'x' } })), ['/from/agency'])
  t.same(paths(check({ ...request(), crimeAreas: [] })), ['/crimeAreas'])
  t.same(paths(check({ ...request(), crimeAreas: ['cybercrime', 'cybercrime'] })), ['/crimeAreas'])
  t.same(paths(check({ ...request(), crimeAreas: ['littering'] })), ['/crimeAreas/0'])
  t.same(paths(check({ ...request(), caseRef: 'x'.repeat(129) })), ['/caseRef'])
  t.same(paths(check({ ...request(), dataSubjects: [{ ref: 'John Smith', category: 'suspect' }] })), ['/dataSubjects/0/ref'])
  t.same(paths(check({ ...request(), dataSubjects: [{ ref: 'P1', category: 'bystander' }] })), ['/dataSubjects/0/category'])
  t.same(paths(check({ ...request(), retention: {} })), ['/retention'])
  t.ok(check({ ...request(), retention: { reviewBy: '2026-05-01T00:00:00Z' } }).ok, 'reviewBy alone is enough')
  const tooMany = Array.from({ length: 201 }, (_, i) => ({ ref: `P${i}`, category: 'witness' }))
  t.same(paths(check({ ...request(), dataSubjects: tooMany })), ['/dataSubjects'])
  t.same(paths(check({ ...request(), body: { text: 42 } })), ['/body/text'])
})

t.test('unknown handling codes and classifications pass the schema, for S2 and S3 to name', async (t) => {
  t.ok(check({ ...request(), handling: { code: 'H7', classification: 'EU_SECRET' } }).ok)
  t.same(paths(check({ ...request(), handling: { code: 'H10', classification: 'secret' } })).sort(), [
    '/handling/classification',
    '/handling/code',
  ])
})

t.test('__proto__, constructor and prototype keys are rejected anywhere', async (t) => {
  t.same(paths(check(withRawBody('{"text":"x"}'))), [], 'control: raw body path works')
  const cases: [string, string][] = [
    ['{"__proto__":{"isAdmin":true}}', '/body/__proto__'],
    ['{"constructor":{"prototype":1}}', '/body/constructor'],
    ['{"a":{"b":[{"prototype":1}]}}', '/body/a/b/0/prototype'],
    ['{"a":{"b":{"c":{"__proto__":1}}}}', '/body/a/b/c/__proto__'],
  ]
  for (const [raw, path] of cases) {
    const r = validate(withRawBody(raw))
    t.notOk(r.ok, raw)
    t.ok(paths(r).includes(path), `${raw} reported at ${path}`)
  }
  const top = JSON.parse(`{"__proto__":{"x":1},${JSON.stringify(request()).slice(1)}`)
  t.same(paths(validate(top)), ['/__proto__'], 'top-level __proto__ is an extra property')
})

t.test('body nesting is bounded', async (t) => {
  t.ok(validate(withRawBody('{"a":{"b":[{"d":{"e":1}}]}}')).ok, 'four containers below body')
  const r = validate(withRawBody('{"a":{"b":[{"d":{"e":{}}}]}}'))
  t.same(paths(r), ['/body/a/b/0/d/e'], 'a fifth container is refused')
})

t.test('inReplyTo is required on replies and forbidden on request and spontaneous', async (t) => {
  for (const kind of KINDS) {
    const m = messageOf(kind)
    if (kind === 'request' || kind === 'spontaneous') {
      t.same(paths(check({ ...m, inReplyTo: '0b0e8f0a-6a3c-4f3e-9d2a-6f6a2b1c0d09' })), ['/inReplyTo'], `${kind} with inReplyTo`)
    } else {
      const { inReplyTo: _r, ...rest } = m
      t.same(paths(check(rest)), ['/inReplyTo'], `${kind} without inReplyTo`)
    }
  }
})

t.test('refusal is required if and only if kind is refusal', async (t) => {
  const { refusal: _r, ...noRefusal } = messageOf('refusal')
  t.same(paths(check(noRefusal)), ['/refusal'])
  t.same(paths(check({ ...messageOf('response'), refusal: { ground: 'a', reasons: 'x' } })), ['/refusal'])
})

t.test('delay is required if and only if kind is delay-notice', async (t) => {
  const { delay: _d, ...noDelay } = messageOf('delay-notice')
  t.same(paths(check(noDelay)), ['/delay'])
  t.same(paths(check({ ...messageOf('response'), delay: { ground: 'judicial-authorisation', expectedBy: '2026-03-05T00:00:00Z', reasons: 'x' } })), ['/delay'])
})

t.test('D6: consentRequest and consent are required if and only if kind is consent-request and consent', async (t) => {
  for (const [kind, field] of [['consent-request', 'consentRequest'], ['consent', 'consent']] as const) {
    const { [field]: _f, ...without } = messageOf(kind) as unknown as Record<string, unknown>
    t.same(paths(check(without)), [`/${field}`], `${kind} without ${field}`)
    t.same(paths(check({ ...messageOf('response'), [field]: (messageOf(kind) as unknown as Record<string, unknown>)[field] })), [`/${field}`], `${field} on a response`)
  }
  const request = messageOf('consent-request')
  t.same(paths(check({ ...request, consentRequest: { uses: [{ use: 'onward-transfer' }] } })), ['/consentRequest/uses/0/to'], 'an onward transfer names its recipients')
  t.same(paths(check({ ...request, consentRequest: { uses: [{ use: 'evidence', to: ['ME-UP'] }] } })), ['/consentRequest/uses/0/to'], 'only an onward transfer names recipients')
  t.same(paths(check({ ...request, consentRequest: { uses: [{ use: 'resale' }] } })), ['/consentRequest/uses/0/use'], 'uses are a closed list')
  t.same(paths(check({ ...request, consentRequest: { uses: [{ use: 'evidence', extra: 1 }] } })), ['/consentRequest/uses/0/extra'], 'no other fields')
  const consent = messageOf('consent')
  t.same(paths(check({ ...consent, consent: { decisions: [{ use: 'evidence' }] } })), ['/consent/decisions/0/granted'], 'a decision grants or refuses')
})

t.test('D6: origin, use and the standing consent of the handling conditions', async (t) => {
  const m = messageOf('spontaneous')
  t.same(paths(check({ ...m, origin: [{ agency: 'RS-MUP', messageId: '0b0e8f0a-6a3c-4f3e-9d2a-6f6a2b1c0d09' }, { agency: 'AT-BK', authorisation: 'AT ref 1' }], use: ['evidence', 'other-purpose'] })), [])
  t.same(paths(check({ ...m, origin: [{ messageId: '0b0e8f0a-6a3c-4f3e-9d2a-6f6a2b1c0d09' }] })), ['/origin/0/agency'], 'an origin names its agency')
  t.same(paths(check({ ...m, origin: [] })), ['/origin'], 'an empty origin')
  t.same(paths(check({ ...m, use: ['onward-transfer'] })), ['/use/0'], 'onward transfer is not a declared use: sending is')
  t.same(paths(check({ ...m, handling: { ...m.handling, consent: { onwardTo: ['ME-UP'], evidence: true, otherPurpose: false } } })), [])
  t.same(paths(check({ ...m, handling: { ...m.handling, consent: { onwardTo: ['me-up'] } } })), ['/handling/consent/onwardTo/0'])
})

t.test('non-objects are rejected', async (t) => {
  for (const value of [null, 'x', 1, [], true]) t.notOk(validate(value).ok, JSON.stringify(value))
})
