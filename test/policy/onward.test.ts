// D6 onward use and L5 prior authorisation, through the pure check with the store's facts given:
// every handling code, every consent path, every use, and the origins that must read as unknown.
import t from 'tap'
import type { Message } from '../../src/intake/message.ts'
import { checkOnwardUse, hasConsent, originMessageIds, type OriginFacts, type RecordedConsent } from '../../src/policy/onward.ts'
import { makeDirectory, messageOf } from './fixtures.ts'

const directory = makeDirectory()
const X = '0b0e8f0a-6a3c-4f3e-9d2a-6f6a2b1c0d0a'
const REPLY = '0b0e8f0a-6a3c-4f3e-9d2a-6f6a2b1c0d0b'

/** AL-ASP passes on to `to` the data of message X it received from RS-MUP. */
function forward (to: string, patch: Partial<Message> = {}): Message {
  return { ...messageOf('spontaneous'), from: { agency: 'AL-ASP', officer: 'al-1' }, to: { agency: to }, origin: [{ agency: 'RS-MUP', messageId: X }], ...patch }
}
const facts = (handlingCode: string, consents: RecordedConsent[] = []): Map<string, OriginFacts> =>
  new Map([[X, { received: true, provider: 'RS-MUP', handlingCode, consents }]])
/** The handling of a message that keeps its origin's code (D6: the code travels with the data). */
const keeping = (code: string): Partial<Message> => ({ handling: { code: code as Message['handling']['code'], classification: 'BASIC_PROTECTION' } })
const rules = (violations: { rule: string; path: string }[]) => violations.map(({ rule, path }) => ({ rule, path }))

const standingTo = (to: string): RecordedConsent => ({ use: 'onward-transfer', recipient: to, granted: true, consentMessage: null })
const replyTo = (to: string, granted: boolean): RecordedConsent => ({ use: 'onward-transfer', recipient: to, granted, consentMessage: REPLY })
const standingUse = (use: 'evidence' | 'other-purpose'): RecordedConsent => ({ use, recipient: null, granted: true, consentMessage: null })
const replyUse = (use: 'evidence' | 'other-purpose', granted: boolean): RecordedConsent => ({ use, recipient: null, granted, consentMessage: REPLY })

// Consent paths for an onward transfer to ME-UP, and whether each permits it under a handling code.
const ONWARD_PATHS: [string, RecordedConsent[], (code: string) => boolean][] = [
  ['no consent', [], () => false],
  ['a standing consent to ME-UP', [standingTo('ME-UP')], (code) => code !== 'H2'],
  ['a standing consent to another agency', [standingTo('MK-MVR')], () => false],
  ['a consent reply granting ME-UP', [replyTo('ME-UP', true)], () => true],
  ['a consent reply refusing ME-UP', [replyTo('ME-UP', false)], () => false],
  ['a standing consent withdrawn by a refusing reply', [standingTo('ME-UP'), replyTo('ME-UP', false)], () => false],
  ['a refusal, then a reply granting', [replyTo('ME-UP', false), replyTo('ME-UP', true)], () => true],
  ['a consent reply granting another agency', [replyTo('MK-MVR', true)], () => false],
]
const CODES = ['H0', 'H1', 'H2', 'H3']

t.test('D6: onward transfer needs the provider\'s consent; H2 only by an explicit reply', async (t) => {
  for (const code of CODES) {
    for (const [name, consents, permits] of ONWARD_PATHS) {
      const found = rules(checkOnwardUse(forward('ME-UP', keeping(code)), facts(code, consents), directory))
      t.same(found, permits(code) ? [] : [{ rule: 'D6', path: '/origin/0' }], `D6: ${code} data to ME-UP with ${name}: ${permits(code) ? 'accepted' : 'refused'}`)
    }
  }
  const [v] = checkOnwardUse(forward('ME-UP', keeping('H2')), facts('H2', [standingTo('ME-UP')]), directory)
  t.match(v?.message, new RegExp(`${X}.*RS-MUP.*H2.*ME-UP.*explicit consent reply`), 'names the origin message, its provider, code and the missing consent')
  const [w] = checkOnwardUse(forward('ME-UP'), facts('H0'), directory)
  t.match(w?.message, /consent-request/, 'tells how to ask')
})

// Consent paths for a declared use, and whether each permits it under a handling code.
const USE_PATHS = (use: 'evidence' | 'other-purpose'): [string, RecordedConsent[], (code: string) => boolean][] => [
  ['no consent', [], () => false],
  ['a standing consent', [standingUse(use)], (code) => !(use === 'evidence' && code === 'H1')],
  ['a consent reply granting it', [replyUse(use, true)], () => true],
  ['a consent reply refusing it', [replyUse(use, false)], () => false],
  ['a standing consent withdrawn by a reply', [standingUse(use), replyUse(use, false)], () => false],
  ['consent to the other use only', [replyUse(use === 'evidence' ? 'other-purpose' : 'evidence', true)], () => false],
]

t.test('D6: use as evidence or for another purpose needs consent; H1 evidence only by an explicit reply', async (t) => {
  for (const use of ['evidence', 'other-purpose'] as const) {
    for (const code of CODES) {
      for (const [name, consents, permits] of USE_PATHS(use)) {
        // The transfer itself is consented, so only the use is judged.
        const found = rules(checkOnwardUse(forward('ME-UP', { use: [use], ...keeping(code) }), facts(code, [replyTo('ME-UP', true), ...consents]), directory))
        t.same(found, permits(code) ? [] : [{ rule: 'D6', path: '/use/0' }], `D6: ${use} of ${code} data with ${name}: ${permits(code) ? 'accepted' : 'refused'}`)
      }
    }
  }
  const [v] = checkOnwardUse(forward('ME-UP', { use: ['evidence'], ...keeping('H1') }), facts('H1', [replyTo('ME-UP', true), standingUse('evidence')]), directory)
  t.match(v?.message, /H1 data needs an explicit consent reply/, 'H1: a standing condition does not suffice')
  t.same(rules(checkOnwardUse(forward('ME-UP', { use: ['evidence', 'other-purpose'] }), facts('H0', [replyTo('ME-UP', true)]), directory)),
    [{ rule: 'D6', path: '/use/0' }, { rule: 'D6', path: '/use/1' }], 'D6: each missing use is named')
})

t.test('D6: data given back to its provider needs no consent to the transfer; a declared use still does', async (t) => {
  for (const code of CODES) {
    t.same(checkOnwardUse(forward('RS-MUP'), facts(code), directory), [], `D6: ${code} data back to RS-MUP`)
    t.same(rules(checkOnwardUse(forward('RS-MUP', { use: ['evidence', 'other-purpose'] }), facts(code), directory)),
      [{ rule: 'D6', path: '/use/0' }, { rule: 'D6', path: '/use/1' }], `D6: ${code} data used as evidence or for another purpose, told to RS-MUP without its consent`)
  }
})

t.test('D6: an origin names a message its sender received, and that message\'s provider', async (t) => {
  const unknown = rules(checkOnwardUse(forward('ME-UP'), new Map(), directory))
  const notReceived = rules(checkOnwardUse(forward('ME-UP'), new Map([[X, { received: false, consents: [] }]]), directory))
  t.same(unknown, [{ rule: 'D6', path: '/origin/0/messageId' }], 'D6: an unknown message')
  t.same(notReceived, unknown, 'D6: a message of other agencies, held, or the sender\'s own: the same answer')
  t.same(checkOnwardUse(forward('ME-UP'), new Map(), directory).map((v) => v.message), checkOnwardUse(forward('ME-UP'), new Map([[X, { received: false, consents: [] }]]), directory).map((v) => v.message),
    'D6: the same words, so nothing is revealed')
  t.same(rules(checkOnwardUse(forward('ME-UP', { origin: [{ agency: 'ME-UP', messageId: X.toUpperCase() }] }), facts('H0', [replyTo('ME-UP', true)]), directory)),
    [{ rule: 'D6', path: '/origin/0/agency' }], 'D6: the origin names the wrong provider (ids compare in any case)')
  t.same(rules(checkOnwardUse({ ...forward('ME-UP'), origin: undefined, use: ['evidence'] }, new Map(), directory)), [{ rule: 'D6', path: '/use' }], 'D6: a use without an origin')
  t.same(checkOnwardUse({ ...messageOf('spontaneous') }, new Map(), directory), [], 'D6: a message that passes nothing on')
  t.same(originMessageIds(forward('ME-UP', { origin: [{ agency: 'RS-MUP', messageId: X.toUpperCase() }, { agency: 'RS-MUP', messageId: X }, { agency: 'AT-BK' }] })), [X], 'the ids looked up: unique, lower case')
})

t.test('L5: data of another member state leaving the EU needs its prior authorisation', async (t) => {
  // DE-BKA passes on data it received from AT-BK (X) through leix.
  const austrian = (consents: RecordedConsent[]): Map<string, OriginFacts> => new Map([[X, { received: true, provider: 'AT-BK', handlingCode: 'H0', consents }]])
  const CASES: [string, string, RecordedConsent[], { rule: string; path: string }[]][] = [
    ['to a third country without consent', 'AL-ASP', [], [{ rule: 'D6', path: '/origin/0' }, { rule: 'L5', path: '/origin/0' }]],
    ['to a third country with consent', 'AL-ASP', [replyTo('AL-ASP', true)], []],
    ['to Europol without consent (not leaving the EU)', 'EU-EUROPOL', [], [{ rule: 'D6', path: '/origin/0' }]],
    ['to Europol with consent', 'EU-EUROPOL', [standingTo('EU-EUROPOL')], []],
  ]
  for (const [name, to, consents, expected] of CASES) {
    const m: Message = { ...forward(to), from: { agency: 'DE-BKA', officer: 'de-1' }, origin: [{ agency: 'AT-BK', messageId: X }] }
    t.same(rules(checkOnwardUse(m, austrian(consents), directory)), expected, `L5: AT data from DE-BKA ${name}`)
  }
  const [, l5] = checkOnwardUse({ ...forward('AL-ASP'), from: { agency: 'DE-BKA', officer: 'de-1' }, origin: [{ agency: 'AT-BK', messageId: X }] }, austrian([]), directory)
  t.match(l5?.message, /AT-BK's prior authorisation \(LED Art\. 35\(1\)\(c\)\)/, 'L5: names whose authorisation is missing')
  // Outside leix: the authorisation is given by reference.
  const outside = (agency: string, authorisation?: string): Message => ({
    ...forward('AL-ASP'), from: { agency: 'DE-BKA', officer: 'de-1' }, origin: [{ agency, ...(authorisation ? { authorisation } : {}) }],
  })
  t.same(rules(checkOnwardUse(outside('AT-BK'), new Map(), directory)), [{ rule: 'L5', path: '/origin/0/authorisation' }], 'L5: AT data outside leix without an authorisation')
  t.same(rules(checkOnwardUse(outside('AT-BK', ' '), new Map(), directory)), [{ rule: 'L5', path: '/origin/0/authorisation' }], 'L5: a blank authorisation')
  t.same(checkOnwardUse(outside('AT-BK', 'BMI-2026/17'), new Map(), directory), [], 'L5: AT data with its authorisation reference')
  t.same(checkOnwardUse(outside('DE-BAFIN'), new Map(), directory), [], 'L5: the sender\'s own country\'s data needs no other state\'s authorisation')
  // L5 asks nothing of these; D6 still asks a leix party's consent, named by its reference.
  const d6 = [{ rule: 'D6', path: '/origin/0/messageId' }]
  t.same(rules(checkOnwardUse(outside('RS-MUP'), new Map(), directory)), d6, 'L5: a third country\'s data needs none')
  t.same(rules(checkOnwardUse({ ...outside('AT-BK'), to: { agency: 'EU-EUROPOL' } }, new Map(), directory)), d6, 'L5: staying inside the EU needs none')
  t.same(rules(checkOnwardUse({ ...outside('AT-BK'), from: { agency: 'RS-MUP', officer: 'x' } }, new Map(), directory)), d6, 'L5: a third country passing on data is not a transfer out of the EU')
})

t.test('D6: hasConsent reads the latest explicit decision', async (t) => {
  const f = (consents: RecordedConsent[]): OriginFacts => ({ received: true, provider: 'RS-MUP', handlingCode: 'H0', consents })
  t.ok(hasConsent(f([standingTo('ME-UP')]), 'onward-transfer', 'ME-UP'))
  t.notOk(hasConsent(f([standingTo('ME-UP')]), 'onward-transfer', 'MK-MVR'))
  t.notOk(hasConsent(f([replyTo('ME-UP', true), replyTo('ME-UP', false)]), 'onward-transfer', 'ME-UP'))
  t.ok(hasConsent(f([replyTo('MK-MVR', false), replyTo('ME-UP', true)]), 'onward-transfer', 'ME-UP'), 'decisions for another recipient do not count')
})

t.test('D6: the provider\'s handling code travels with its data, whatever consent was given', async (t) => {
  const granted = [replyTo('ME-UP', true)]
  for (const origin of CODES) {
    for (const code of CODES) {
      const found = rules(checkOnwardUse(forward('ME-UP', keeping(code)), facts(origin, granted), directory))
      const keeps = origin === 'H0' || code === origin
      t.same(found, keeps ? [] : [{ rule: 'D6', path: '/handling/code' }], `D6: ${origin} data passed on as ${code}: ${keeps ? 'accepted' : 'refused'}`)
    }
    // Given back to its provider, data is not passed on: its code binds nobody new.
    t.same(checkOnwardUse(forward('RS-MUP', { handling: { code: 'H0', classification: 'BASIC_PROTECTION' } }), facts(origin), directory), [], `D6: ${origin} data back to its provider as H0`)
  }
})

t.test('D6: data of a leix party named without its message needs the reference of its consent', async (t) => {
  const named = (agency: string, to: string, authorisation?: string): Message => ({
    ...forward(to), origin: [{ agency, ...(authorisation === undefined ? {} : { authorisation }) }],
  })
  const CASES: [string, Message, boolean][] = [
    ['a leix party, no reference', named('RS-MUP', 'ME-UP'), false],
    ['a leix party, a blank reference', named('RS-MUP', 'ME-UP', ' '), false],
    ['a leix party, with its consent reference', named('RS-MUP', 'ME-UP', 'RS consent 2026/9'), true],
    ['the recipient\'s own data, given back', named('ME-UP', 'ME-UP'), true],
    ['the sender\'s own data', named('AL-ASP', 'ME-UP'), true],
    ['a body of the sender\'s own country in leix', { ...named('DE-BAFIN', 'AT-BK'), from: { agency: 'DE-BKA', officer: 'de-1' } }, true],
    ['a body outside leix (national law governs it)', named('AL-PROSECUTION', 'ME-UP'), true],
  ]
  for (const [name, message, ok] of CASES) {
    t.same(rules(checkOnwardUse(message, new Map(), directory)), ok ? [] : [{ rule: 'D6', path: '/origin/0/messageId' }], `D6: ${name}: ${ok ? 'accepted' : 'refused'}`)
  }
})
