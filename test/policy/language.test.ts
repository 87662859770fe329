// Language (P2): every message states a well-formed BCP 47 tag; a request or own-initiative
// message is in a language its recipient lists (or English where the instrument accepts it); a
// reply is in its request's language or one its recipient lists. Matching is by whole-subtag prefix.
import t from 'tap'
import type { Message, MessageKind } from '../../src/intake/message.ts'
import { acceptedOpeningLanguages, canonicalLanguage, checkLanguage, checkReplyLanguage, languageMatches } from '../../src/policy/language.ts'
import { findings, KINDS, makeContext, makeDirectory, messageOf, request } from './fixtures.ts'

const REPLIES: MessageKind[] = ['response', 'refusal', 'clarification', 'delay-notice', 'correction']
const OPENINGS: MessageKind[] = ['request', 'spontaneous']

t.test('P2: a language tag must be well-formed BCP 47, on every kind', async (t) => {
  for (const kind of KINDS) {
    for (const tag of ['en', 'sr-Latn', 'sr-latn', 'SQ', 'cnr', 'de-AT', 'zh-Hant-TW', 'en-u-ca-gregory']) {
      t.same(findings({ ...messageOf(kind), language: tag }, 'P2', makeContext({ directory: makeDirectory({ languages: { 'RS-MUP': [tag], 'AL-ASP': [tag] } }) })), [], `${kind} ${tag}`)
    }
    for (const tag of ['e', 'toolonglang', 'en--GB', 'en-', '123', 'sr-Latn-Latn-x']) {
      t.same(findings({ ...messageOf(kind), language: tag }, 'P2'), [{ rule: 'P2', path: '/language' }], `${kind} ${tag} is not well-formed`)
    }
  }
})

t.test('P2: languageMatches compares whole subtags, case-insensitively', async (t) => {
  const cases: [string, string, boolean][] = [
    ['sr', 'sr', true],
    ['sr-Latn', 'sr', true],
    ['sr-latn-RS', 'sr-Latn', true],
    ['SR-LATN', 'sr-latn', true],
    ['sr', 'sr-Latn', false],
    ['sr-Cyrl', 'sr-Latn', false],
    ['srp', 'sr', true], // the ISO 639-3 code: canonicalised to sr (Intl.getCanonicalLocales)
    ['sqi', 'sq', true],
    ['bs', 'hr', false],
    ['en-GB', 'en', true],
    ['sq', 'sr', false],
  ]
  for (const [tag, listed, match] of cases) t.equal(languageMatches(tag, listed), match, `${tag} ${match ? 'satisfies' : 'does not satisfy'} ${listed}`)
})

t.test('P2: a request or own-initiative message is in a language the recipient lists, or English where the instrument accepts it', async (t) => {
  const directory = makeDirectory({
    languages: { 'RS-MUP': ['sr', 'hr'], 'AL-ASP': ['sq'] },
    instruments: [{ id: 'ENGLISH-OK', parties: ['AL', 'RS'], englishAccepted: true }],
  })
  const ctx = makeContext({ directory })
  const cases: [string, string, boolean][] = [
    ['PCC-SEE', 'sr', true],
    ['PCC-SEE', 'sr-Latn', true],
    ['PCC-SEE', 'sr-Cyrl-RS', true],
    ['PCC-SEE', 'hr', true],
    ['PCC-SEE', 'sq', false],
    ['PCC-SEE', 'en', false],
    ['ENGLISH-OK', 'en', true],
    ['ENGLISH-OK', 'en-GB', true],
    ['ENGLISH-OK', 'sq', false],
  ]
  for (const kind of OPENINGS) {
    for (const [instrument, language, ok] of cases) {
      const m: Message = { ...request(), kind, legalBasis: { instrument }, language }
      t.same(findings(m, 'P2', ctx), ok ? [] : [{ rule: 'P2', path: '/language' }], `${kind} under ${instrument} in ${language}`)
    }
  }
  const [v] = checkLanguage({ ...request(), language: 'sq' }, ctx)
  t.match(v?.message, /sq is not a language RS-MUP accepts under PCC-SEE; accepted: sr, hr$/, 'names the accepted languages')
  t.same(acceptedOpeningLanguages({ ...request(), legalBasis: { instrument: 'ENGLISH-OK' } }, directory), ['sr', 'hr', 'en'])
  t.same(findings({ ...request(), to: { agency: 'XX-NONE' }, language: 'xx' }, 'P2', ctx), [], 'an unknown recipient is left to S1')
})

t.test('P2: replies are not checked against the recipient alone by the per-message rule', async (t) => {
  const ctx = makeContext({ directory: makeDirectory({ languages: { 'AL-ASP': ['sq'] } }) })
  for (const kind of REPLIES) t.same(findings({ ...messageOf(kind), language: 'sr' }, 'P2', ctx), [], `${kind} in sr: its exchange decides`)
})

t.test('P2: a reply is in its request\'s language or one its recipient lists', async (t) => {
  const cases: [string | null, string[], string, boolean][] = [
    ['sr', ['sq'], 'sr', true],
    ['sr', ['sq'], 'sr-Latn', true],
    ['sr', ['sq'], 'sq', true],
    ['sr', ['sq'], 'en', false],
    ['sr-Latn', ['sq'], 'sr', false], // the request's language is the narrower one
    [null, ['sq', 'en'], 'en', true], // exchanges opened before leix stored the language
    [null, ['sq'], 'sr', false],
  ]
  for (const kind of REPLIES) {
    for (const [requestLanguage, recipient, language, ok] of cases) {
      const got = checkReplyLanguage({ ...messageOf(kind), language }, requestLanguage, recipient)
      t.same(got.map((v) => `${v.rule} ${v.path}`), ok ? [] : ['P2 /language'], `${kind} in ${language}; request ${requestLanguage}, recipient ${recipient.join('/')}`)
    }
  }
  const [v] = checkReplyLanguage({ ...messageOf('response'), language: 'en' }, 'sr', ['sq'])
  t.match(v?.message, /en is not a language of the request or one AL-ASP accepts; accepted: sr, sq$/)
  for (const kind of OPENINGS) t.same(checkReplyLanguage({ ...messageOf(kind), language: 'xx' }, 'sr', ['sq']), [], `${kind} opens an exchange`)
})

t.test('canonicalLanguage: the same answer the first time and from its memo, for well-formed and malformed tags', async (t) => {
  const table: [string, string | undefined][] = [['sr-latn', 'sr-Latn'], ['SR-CYRL', 'sr-Cyrl'], ['sq', 'sq'], ['en-gb', 'en-GB'], ['cnr', 'cnr'], ['CNR-latn', 'cnr-Latn'], ['cnr-cyrl-me', 'cnr-Cyrl-ME'], ['srp', 'sr'], ['sh', 'sr-Latn'], ['not a tag', undefined], ['cnr-', undefined], ['', undefined], ['x-', undefined]]
  for (const [tag, want] of table) {
    for (let i = 0; i < 3; i++) t.equal(canonicalLanguage(tag), want, `${JSON.stringify(tag)} (ask ${i + 1})`)
  }
})

t.test('P2: Montenegrin is a language of its own, though CLDR aliases cnr to sr-ME', async (t) => {
  t.equal(languageMatches('cnr', 'sr'), false, 'a Montenegrin message does not satisfy a party listing only Serbian')
  t.equal(languageMatches('sr', 'cnr'), false, 'nor the other way round')
  t.equal(languageMatches('cnr-Latn', 'cnr'), true, 'a script of Montenegrin satisfies a party listing Montenegrin')
  t.equal(languageMatches('sr-ME', 'sr'), true, 'Serbian as written in Montenegro is Serbian')
  t.equal(languageMatches('sr-ME', 'cnr'), false, 'and not Montenegrin')
})
