import t from 'tap'
import type { LegalInstrument } from '../../src/directory/types.ts'
import type { DataSubject, Message } from '../../src/intake/message.ts'
import { retentionCap } from '../../src/policy/index.ts'
import { DAY, findings, makeContext, makeDirectory, NOW, request } from './fixtures.ts'

const withSubjects = (...subjects: DataSubject[]): Message => ({ ...request(), dataSubjects: subjects })
const iso = (ms: number): string => new Date(NOW.getTime() + ms).toISOString()

t.test('D2 special categories', async (t) => {
  t.same(findings(request(), 'D2'), [])
  t.same(
    findings(withSubjects({ ref: 'P1', category: 'victim', specialCategories: ['health'], specialJustification: 'Injuries relevant to the offence', specialBasis: 'law' }), 'D2'),
    []
  )
  t.same(findings(withSubjects({ ref: 'P1', category: 'victim', specialCategories: [] }), 'D2'), [], 'an empty list needs nothing')

  t.same(findings(withSubjects({ ref: 'P0', category: 'witness' }, { ref: 'P1', category: 'suspect', specialCategories: ['biometric'] }), 'D2'), [
    { rule: 'D2', path: '/dataSubjects/1/specialJustification' },
    { rule: 'D2', path: '/dataSubjects/1/specialBasis' },
  ])
  t.same(
    findings(withSubjects({ ref: 'P1', category: 'suspect', specialCategories: ['genetic'], specialJustification: ' ', specialBasis: 'law' }), 'D2'),
    [{ rule: 'D2', path: '/dataSubjects/0/specialJustification' }]
  )
})

t.test('D3 minors are held, not rejected', async (t) => {
  t.same(findings(withSubjects({ ref: 'P1', category: 'victim', minor: false }), 'D3'), [])
  const m = withSubjects({ ref: 'P0', category: 'suspect' }, { ref: 'P1', category: 'victim', minor: true })
  t.same(findings(m, 'D3'), [{ rule: 'D3', path: '/dataSubjects/1/minor' }])
})

t.test('D4 non-refoulement is held', async (t) => {
  t.same(findings(withSubjects({ ref: 'P1', category: 'witness', protectionStatus: 'refugee', countryOfFlight: 'SY' }), 'D4'), [], 'fled elsewhere')
  t.same(findings(withSubjects({ ref: 'P1', category: 'witness', countryOfFlight: 'RS' }), 'D4'), [], 'no protection status')
  t.same(
    findings(withSubjects({ ref: 'P0', category: 'suspect' }, { ref: 'P1', category: 'witness', protectionStatus: 'asylum-seeker', countryOfFlight: 'RS' }), 'D4'),
    [{ rule: 'D4', path: '/dataSubjects/1/countryOfFlight' }],
    'recipient RS-MUP is in the country fled'
  )
})

t.test('D5 recipient country at risk is held when persons are concerned', async (t) => {
  const risky = makeContext({ directory: makeDirectory({ riskCountries: ['RS'] }) })
  t.same(findings(request(), 'D5'), [], 'RS not marked')
  t.same(findings({ ...request(), dataSubjects: [], purpose: { ...request().purpose } }, 'D5', risky), [], 'no persons')
  t.same(findings(request(), 'D5', risky), [{ rule: 'D5', path: '/to/agency' }])
})

t.test('holds do not reject', async (t) => {
  const risky = makeContext({ directory: makeDirectory({ riskCountries: ['RS'] }) })
  const { checkPrinciples } = await import('../../src/policy/index.ts')
  const r = checkPrinciples(withSubjects({ ref: 'P1', category: 'victim', minor: true }), risky)
  t.same(r.violations, [])
  t.same(r.holds.map((h) => h.rule), ['D3', 'D5'])
})

t.test('D7 retention capped by the instrument', async (t) => {
  const pcc = makeDirectory().instruments.get('PCC-SEE') as LegalInstrument // 365 days
  const retained = (retention: Message['retention']): Message => ({ ...request(), retention })
  t.same(retentionCap(retained({ eraseBy: iso(365 * DAY) }), NOW, pcc), { cap: new Date(NOW.getTime() + 365 * DAY), violations: [] }, 'exactly at the cap')
  t.same(findings(retained({ reviewBy: iso(DAY), eraseBy: iso(300 * DAY) }), 'D7'), [])

  t.same(findings(retained({ eraseBy: iso(365 * DAY + 1) }), 'D7'), [{ rule: 'D7', path: '/retention/eraseBy' }], 'beyond the cap')
  t.same(findings(retained({ reviewBy: iso(0) }), 'D7'), [{ rule: 'D7', path: '/retention/reviewBy' }], 'not in the future')
  t.same(findings(retained({ eraseBy: iso(-DAY), reviewBy: iso(400 * DAY) }), 'D7'), [
    { rule: 'D7', path: '/retention/eraseBy' },
    { rule: 'D7', path: '/retention/reviewBy' },
  ])
  const oa = makeDirectory().instruments.get('EUROPOL-OA') as LegalInstrument // 730 days
  t.same(retentionCap(retained({ eraseBy: iso(700 * DAY) }), NOW, oa).violations, [], 'cap follows the instrument')
  t.same(findings({ ...retained({ eraseBy: iso(-DAY) }), legalBasis: { instrument: 'NO-SUCH' } }, 'D7'), [], 'unknown instrument is L1')
})
