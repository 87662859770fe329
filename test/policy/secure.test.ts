import t from 'tap'
import { checkSenderBinding } from '../../src/policy/index.ts'
import { findings, makeDirectory, messageOf, request } from './fixtures.ts'

const pairs = (vs: { rule: string; path: string }[]) => vs.map(({ rule, path }) => ({ rule, path }))

t.test('S1 sender binding', async (t) => {
  const directory = makeDirectory()
  t.same(checkSenderBinding('AL-ASP', request(), directory), [], 'key of the named sender')
  t.same(pairs(checkSenderBinding('RS-MUP', request(), directory)), [{ rule: 'S1', path: '/from/agency' }], 'key of another agency')
  const [v] = checkSenderBinding('RS-MUP', request(), directory)
  t.match(v?.message, /RS-MUP.*AL-ASP/)
  t.same(
    pairs(checkSenderBinding('AL-ASP', { ...request(), to: { agency: 'XX-NONE' } }, directory)),
    [{ rule: 'S1', path: '/to/agency' }],
    'unregistered recipient'
  )
  t.same(
    pairs(checkSenderBinding('XX-NONE', { ...request(), from: { agency: 'XX-NONE', officer: 'x' } }, directory)),
    [{ rule: 'S1', path: '/from/agency' }],
    'unregistered sender, even with a matching key agency'
  )
})

t.test('S1 registered agencies, inside the principles check too', async (t) => {
  t.same(findings(request(), 'S1'), [])
  t.same(findings({ ...request(), from: { agency: 'XX-NONE', officer: 'x' }, to: { agency: 'YY-NONE' } }, 'S1'), [
    { rule: 'S1', path: '/from/agency' },
    { rule: 'S1', path: '/to/agency' },
  ])
})

t.test('S2 handling codes', async (t) => {
  for (const code of ['H0', 'H1', 'H2'] as const) {
    t.same(findings({ ...request(), handling: { code, classification: 'BASIC_PROTECTION' } }, 'S2'), [], code)
  }
  t.same(findings({ ...request(), handling: { code: 'H3', restrictions: 'Not for the press office', classification: 'BASIC_PROTECTION' } }, 'S2'), [])
  t.same(findings({ ...request(), handling: { code: 'H3', classification: 'BASIC_PROTECTION' } }, 'S2'), [
    { rule: 'S2', path: '/handling/restrictions' },
  ])
  t.same(findings({ ...request(), handling: { code: 'H3', restrictions: ' ', classification: 'BASIC_PROTECTION' } }, 'S2'), [
    { rule: 'S2', path: '/handling/restrictions' },
  ])
  t.same(findings({ ...request(), handling: { code: 'H4', classification: 'BASIC_PROTECTION' } }, 'S2'), [{ rule: 'S2', path: '/handling/code' }])
})

t.test('S3 classification', async (t) => {
  t.same(findings({ ...request(), handling: { code: 'H0', classification: 'EU_RESTRICTED' } }, 'S3'), [], 'RS-MUP is cleared to EU_RESTRICTED')
  t.same(findings({ ...messageOf('response'), handling: { code: 'H0', classification: 'EU_CONFIDENTIAL' } }, 'S3'), [], 'AL-ASP to EU_CONFIDENTIAL')

  t.same(findings({ ...request(), handling: { code: 'H0', classification: 'EU_SECRET' } }, 'S3'), [
    { rule: 'S3', path: '/handling/classification' },
  ], 'nothing above EU_CONFIDENTIAL travels')
  t.same(findings({ ...request(), handling: { code: 'H0', classification: 'EU_CONFIDENTIAL' } }, 'S3'), [
    { rule: 'S3', path: '/handling/classification' },
  ], 'above the recipient clearance')
  t.same(
    findings({ ...request(), to: { agency: 'XK-KP' }, handling: { code: 'H0', classification: 'EU_RESTRICTED' } }, 'S3'),
    [{ rule: 'S3', path: '/handling/classification' }],
    'XK-KP is cleared to BASIC_PROTECTION only'
  )
})
