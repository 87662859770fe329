import t from 'tap'
import type { LegalInstrument } from '../../src/directory/types.ts'
import type { DataSubject, Message } from '../../src/intake/message.ts'
import { addCalendarPeriod, isMinorAt, onwardCountries, retentionCap } from '../../src/policy/index.ts'
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

t.test('D3 a date of birth under 18 at receipt makes a minor whatever the flag says', async (t) => {
  // NOW is 2026-03-02T10:00Z; ages are counted on the UTC calendar date of receipt.
  const cases: Array<[dob: string, minor: boolean | undefined, held: boolean, why: string]> = [
    ['2008-03-02', false, false, '18th birthday today: adult'],
    ['2008-03-03', false, true, '18 tomorrow: still a minor, the false flag does not count'],
    ['2008-03-03', undefined, true, 'no flag'],
    ['2000-01-01', undefined, false, 'adult'],
    ['2008', undefined, true, 'year only: read as 31 Dec 2008, so still 17'],
    ['2007', undefined, false, 'year only: 18 by 31 Dec 2025 at the latest'],
    ['2026-03-02', undefined, true, 'born today'],
  ]
  for (const [dateOfBirth, minor, held, why] of cases) {
    const subject: DataSubject = { ref: 'P1', category: 'victim', dateOfBirth, ...(minor === undefined ? {} : { minor }) }
    t.same(findings(withSubjects(subject), 'D3'), held ? [{ rule: 'D3', path: '/dataSubjects/0/dateOfBirth' }] : [], `${dateOfBirth}: ${why}`)
  }
  t.same(findings(withSubjects({ ref: 'P1', category: 'victim', minor: true, dateOfBirth: '1990-01-01' }), 'D3'), [{ rule: 'D3', path: '/dataSubjects/0/minor' }], 'the flag alone still holds')
})

t.test('D3 born on 29 February: the 18th birthday is 1 March in a year without one', async (t) => {
  const cases: Array<[at: string, minor: boolean]> = [
    ['2026-02-28T23:59:59Z', true],
    ['2026-03-01T00:00:00Z', false],
    ['2026-02-27T12:00:00Z', true],
  ]
  for (const [at, minor] of cases) t.equal(isMinorAt('2008-02-29', new Date(at)), minor, `born 2008-02-29, at ${at}`)
  t.equal(isMinorAt('2012-02-29', new Date('2030-02-28T12:00:00Z')), true, 'born 2012-02-29, 18 on 1 March 2030 (2030 has no 29 Feb)')
  t.equal(isMinorAt('2014-02-29', new Date('2032-02-29T00:00:00Z')), null, '2014 had no 29 February')
})

t.test('D3 a date of birth that does not exist or is after receipt is refused', async (t) => {
  const refused = ['2023-02-29', '2020-13-01', '2020-00-10', '2020-04-31', '2020-01-00', '2026-03-03', '2027', '2099-01-01']
  for (const dateOfBirth of refused) {
    t.same(findings(withSubjects({ ref: 'P0', category: 'suspect' }, { ref: 'P1', category: 'victim', dateOfBirth }), 'D3', makeContext()).filter((f) => f.path.endsWith('dateOfBirth')), [{ rule: 'D3', path: '/dataSubjects/1/dateOfBirth' }], dateOfBirth)
    const { checkPrinciples } = await import('../../src/policy/index.ts')
    t.ok(checkPrinciples(withSubjects({ ref: 'P1', category: 'victim', dateOfBirth }), makeContext()).violations.some((v) => v.rule === 'D3'), `${dateOfBirth} is a violation, not a hold`)
  }
  for (const dateOfBirth of ['2024-02-29', '2026', '2026-03-02', '1950-12-31']) {
    const { checkPrinciples } = await import('../../src/policy/index.ts')
    t.same(checkPrinciples(withSubjects({ ref: 'P1', category: 'victim', dateOfBirth }), makeContext()).violations, [], `${dateOfBirth} exists`)
  }
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

t.test('D4 an unknown country of flight, or one the recipient may pass data to, is held', async (t) => {
  // The recipient is RS-MUP. RS is party to PCC-SEE and to Europol's operational agreement.
  const cases: Array<[subject: Omit<DataSubject, 'ref' | 'category'>, path: string | null, why: string]> = [
    [{ protectionStatus: 'refugee' }, '/dataSubjects/0/protectionStatus', 'unknown country of flight is a risk'],
    [{ protectionStatus: 'asylum-seeker' }, '/dataSubjects/0/protectionStatus', 'unknown, asylum seeker'],
    [{ protectionStatus: 'refugee', countryOfFlight: 'RS' }, '/dataSubjects/0/countryOfFlight', "the recipient's country"],
    [{ protectionStatus: 'refugee', countryOfFlight: 'MD' }, '/dataSubjects/0/countryOfFlight', 'RS may pass data to MD under PCC-SEE'],
    [{ protectionStatus: 'asylum-seeker', countryOfFlight: 'DE' }, null, 'the Europol agreement links RS with Europol only, not with DE'],
    [{ protectionStatus: 'refugee', countryOfFlight: 'SY' }, null, 'no instrument reaches SY'],
    [{ countryOfFlight: 'RS' }, null, 'no protection status'],
    [{}, null, 'nothing about protection'],
  ]
  for (const [extra, path, why] of cases) {
    t.same(findings(withSubjects({ ref: 'P1', category: 'witness', ...extra }), 'D4'), path === null ? [] : [{ rule: 'D4', path }], why)
  }
})

t.test('D4 the directory can add countries an agency may pass data to (mayPassTo)', async (t) => {
  const base = makeDirectory()
  const rs = base.agencies.get('RS-MUP')
  if (rs === undefined) throw new Error('fixture')
  const agencies = new Map(base.agencies)
  agencies.set('RS-MUP', { ...rs, mayPassTo: ['SY'] })
  const directory = { ...base, agencies }
  t.ok(onwardCountries(directory, 'RS-MUP').has('SY'))
  t.ok(onwardCountries(directory, 'EU-EUROPOL').has('AL'), 'Europol may pass data to its operational partners')
  t.notOk(onwardCountries(directory, 'EU-EUROPOL').has('EU'), 'not its own')
  const refugee = withSubjects({ ref: 'P1', category: 'witness', protectionStatus: 'refugee', countryOfFlight: 'SY' })
  t.same(findings(refugee, 'D4', makeContext({ directory })), [{ rule: 'D4', path: '/dataSubjects/0/countryOfFlight' }])
  t.same(findings(refugee, 'D4'), [], 'without the setting')
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

t.test('D7 caps are added in calendar units, clamped to the end of a shorter month', async (t) => {
  const cases: Array<[from: string, period: { years?: number; months?: number; days?: number }, to: string]> = [
    ['2028-02-29T10:00:00.000Z', { years: 5 }, '2033-02-28T10:00:00.000Z'],
    ['2028-02-29T10:00:00.000Z', { years: 4 }, '2032-02-29T10:00:00.000Z'],
    ['2027-02-28T00:00:00.000Z', { years: 1 }, '2028-02-28T00:00:00.000Z'],
    ['2026-01-31T12:00:00.000Z', { months: 1 }, '2026-02-28T12:00:00.000Z'],
    ['2028-01-31T12:00:00.000Z', { months: 1 }, '2028-02-29T12:00:00.000Z'],
    ['2026-08-31T00:00:00.000Z', { months: 1 }, '2026-09-30T00:00:00.000Z'],
    ['2026-12-31T23:59:59.000Z', { months: 2 }, '2027-02-28T23:59:59.000Z'],
    ['2026-11-15T00:00:00.000Z', { years: 1, months: 3 }, '2028-02-15T00:00:00.000Z'],
    ['2026-01-31T00:00:00.000Z', { months: 1, days: 1 }, '2026-03-01T00:00:00.000Z'],
    ['2026-12-31T00:00:00.000Z', { days: 1 }, '2027-01-01T00:00:00.000Z'],
    ['2026-03-02T10:00:00.000Z', { days: 365 }, '2027-03-02T10:00:00.000Z'],
  ]
  for (const [from, period, to] of cases) t.equal(addCalendarPeriod(new Date(from), period).toISOString(), to, `${from} + ${JSON.stringify(period)}`)

  const fiveYears: LegalInstrument = { ...(makeDirectory().instruments.get('PCC-SEE') as LegalInstrument), maxRetention: { years: 5 } }
  const receipt = new Date('2028-02-29T10:00:00.000Z')
  const at = (iso: string): Message => ({ ...request(), retention: { eraseBy: iso } })
  t.same(retentionCap(at('2033-02-28T10:00:00.000Z'), receipt, fiveYears).violations, [], 'exactly five years')
  t.same(retentionCap(at('2033-02-28T10:00:00.001Z'), receipt, fiveYears).violations.map((v) => v.path), ['/retention/eraseBy'], 'a moment past five years')
  t.match(retentionCap(at('2034-01-01T00:00:00.000Z'), receipt, fiveYears).violations[0]?.message, /5 years from receipt/)
})
