// Instruments know their roles (L1, L4): the pairs they cover, their validity dates, party
// reservations, whether personal data may travel, their refusal grounds; nobody writes to itself.
// Table-driven over the fixture directory plus the instruments each test adds; the sample
// directory's own truths (Denmark, Kosovo*, BiH's contact point, Eurojust) at the end.
import t from 'tap'
import type { LegalInstrument } from '../../src/directory/types.ts'
import { buildDirectory, loadDirectory, DirectoryError } from '../../src/directory/load.ts'
import type { Message, MessageKind } from '../../src/intake/message.ts'
import { checkLegalBasis } from '../../src/policy/legal.ts'
import { findings, KINDS, makeContext, makeDirectory, messageOf, NOW, request } from './fixtures.ts'

const between = (from: string, to: string, instrument: string, m: Message = request()): Message =>
  ({ ...m, from: { agency: from, officer: 'o-1' }, to: { agency: to }, legalBasis: { instrument } })

t.test('L1: a hub instrument covers the hub and a party, never party and party nor hub and hub', async (t) => {
  // EUROPOL-OA of the fixtures: parties EU, AL, RS, AT, DE; hub EU-EUROPOL.
  const cases: [string, string, boolean][] = [
    ['EU-EUROPOL', 'AL-ASP', true],
    ['AL-ASP', 'EU-EUROPOL', true],
    ['EU-EUROPOL', 'DE-BKA', true],
    ['RS-MUP', 'EU-EUROPOL', true],
    ['DE-BKA', 'AT-BK', false], // member state and member state: the DE-BKA -> AT-BK
    ['AL-ASP', 'RS-MUP', false], // partner and partner
    ['AT-BK', 'AL-ASP', false],
  ]
  for (const [from, to, covered] of cases) {
    t.same(findings(between(from, to, 'EUROPOL-OA'), 'L1'), covered ? [] : [{ rule: 'L1', path: '/to/agency' }], `${from} -> ${to} ${covered ? 'covered' : 'refused'}`)
  }
  const [v] = checkLegalBasis(between('DE-BKA', 'AT-BK', 'EUROPOL-OA'), makeContext())
  t.match(v?.message, /EUROPOL-OA covers exchanges between EU-EUROPOL .* not DE-BKA to AT-BK/, 'names the hub and the pair')
})

t.test('L1: an any-two-parties instrument covers every pair of its parties', async (t) => {
  const parties = ['AL-ASP', 'RS-MUP', 'AT-BK']
  for (const from of parties) {
    for (const to of parties) {
      if (from !== to) t.same(findings(between(from, to, 'PCC-SEE'), 'L1'), [], `${from} -> ${to} under PCC-SEE`)
    }
  }
})

t.test('L1: contact points: a country named in contactPoints exchanges only through them', async (t) => {
  const ctx = makeContext({ directory: makeDirectory({ instruments: [{ id: 'OA-AL', parties: ['EU', 'AL'], covers: { hub: ['EU-EUROPOL'] }, contactPoints: { AL: ['AL-ASP'] } }] }) })
  // A second Albanian agency, not the contact point.
  const directory = ctx.directory as ReturnType<typeof makeDirectory>
  const other = { ...directory.agencies.get('AL-ASP')!, id: 'AL-DPPK' }
  ;(directory.agencies as Map<string, typeof other>).set(other.id, other)
  t.same(findings(between('EU-EUROPOL', 'AL-ASP', 'OA-AL'), 'L1', ctx), [], 'to the contact point')
  t.same(findings(between('AL-ASP', 'EU-EUROPOL', 'OA-AL'), 'L1', ctx), [], 'from the contact point')
  t.same(findings(between('EU-EUROPOL', 'AL-DPPK', 'OA-AL'), 'L1', ctx), [{ rule: 'L1', path: '/to/agency' }], 'to another agency')
  t.same(findings(between('AL-DPPK', 'EU-EUROPOL', 'OA-AL'), 'L1', ctx), [{ rule: 'L1', path: '/from/agency' }], 'from another agency')
  const [v] = checkLegalBasis(between('AL-DPPK', 'EU-EUROPOL', 'OA-AL'), ctx)
  t.match(v?.message, /AL exchanges only through AL-ASP, not AL-DPPK/)
})

t.test('L1: a message to one\'s own agency is refused, whatever its kind', async (t) => {
  for (const kind of KINDS) {
    const m = between('AL-ASP', 'AL-ASP', 'PCC-SEE', messageOf(kind))
    t.same(findings(m, 'L1'), [{ rule: 'L1', path: '/to/agency' }], kind)
    t.match(checkLegalBasis(m, makeContext())[0]?.message, /cannot send a message to itself/)
  }
  // Under a hub instrument, the hub writing to itself: the same single finding.
  t.same(findings(between('EU-EUROPOL', 'EU-EUROPOL', 'EUROPOL-OA'), 'L1'), [{ rule: 'L1', path: '/to/agency' }], 'the hub to itself')
})

t.test('L1: validity dates: refused before validFrom and after validUntil (UTC days, inclusive)', async (t) => {
  const directory = makeDirectory({ instruments: [{ id: 'DATED', parties: ['AL', 'RS'], validFrom: '2026-03-02', validUntil: '2026-03-31' }] })
  const cases: [string, boolean][] = [
    ['2026-03-01T23:59:59.999Z', false],
    ['2026-03-02T00:00:00.000Z', true],
    ['2026-03-15T12:00:00.000Z', true],
    ['2026-03-31T23:59:59.999Z', true],
    ['2026-04-01T00:00:00.000Z', false],
  ]
  for (const [at, valid] of cases) {
    const now = new Date(at)
    const m = { ...between('AL-ASP', 'RS-MUP', 'DATED'), createdAt: now.toISOString() }
    const got = checkLegalBasis(m, makeContext({ directory, now }))
    t.same(got.map((v) => v.path), valid ? [] : ['/legalBasis/instrument'], `${at}: ${valid ? 'in force' : 'refused'}`)
    if (!valid) t.match(got[0]?.message, /DATED applies from 2026-03-02 until 2026-03-31, not on 2026-0[34]-0[1]/, 'says the dates')
  }
  const open = makeDirectory({ instruments: [{ id: 'OPEN', parties: ['AL', 'RS'], validFrom: '2026-03-03' }] })
  t.match(checkLegalBasis(between('AL-ASP', 'RS-MUP', 'OPEN'), makeContext({ directory: open }))[0]?.message, /OPEN applies from 2026-03-03, not on 2026-03-02/, 'open-ended: no "until"')
})

t.test('L1: a party\'s reservation excludes its crime areas and kinds, in both directions', async (t) => {
  const directory = makeDirectory({
    instruments: [{
      id: 'RESERVED', parties: ['AL', 'RS', 'AT'],
      reservations: [
        { party: 'RS', crimeAreas: ['cybercrime'], note: 'RS does not apply the instrument to cybercrime', source: 'Declaration of RS, 2010' },
        { party: 'AT', kinds: ['spontaneous'], note: 'AT takes own-initiative information through another channel', source: 'Declaration of AT, 2011' },
      ],
    }],
  })
  const ctx = makeContext({ directory })
  const cases: [string, string, MessageKind, string[], string[]][] = [
    ['AL-ASP', 'RS-MUP', 'request', ['cybercrime'], ['/crimeAreas']],
    ['RS-MUP', 'AL-ASP', 'spontaneous', ['cybercrime', 'organised-crime'], ['/crimeAreas']],
    ['AL-ASP', 'RS-MUP', 'request', ['drug-trafficking'], []],
    ['AL-ASP', 'AT-BK', 'spontaneous', ['cybercrime'], ['/kind']], // RS's reservation is not AT's
    ['AT-BK', 'AL-ASP', 'spontaneous', ['drug-trafficking'], ['/kind']],
    ['AT-BK', 'AL-ASP', 'request', ['drug-trafficking'], []],
    ['AT-BK', 'RS-MUP', 'spontaneous', ['cybercrime'], ['/crimeAreas', '/kind']],
  ]
  for (const [from, to, kind, crimeAreas, paths] of cases) {
    const m = { ...between(from, to, 'RESERVED', messageOf(kind)), crimeAreas } as Message
    const got = checkLegalBasis(m, ctx)
    t.same(got.map((v) => v.path), paths, `${kind} ${from} -> ${to} about ${crimeAreas.join(', ')}`)
    for (const v of got) t.match(v.message, /excludes .* from RESERVED: .* \(Declaration of (RS|AT)/, 'names the reservation, its note and source')
  }
})

t.test('L1: an instrument without personal data refuses every message naming data subjects', async (t) => {
  const directory = makeDirectory({ instruments: [{ id: 'WA', parties: ['EU', 'XK'], covers: { hub: ['EU-EUROPOL'] }, personalData: false }] })
  const ctx = makeContext({ directory })
  for (const kind of KINDS) {
    for (const [from, to] of [['EU-EUROPOL', 'XK-KP'], ['XK-KP', 'EU-EUROPOL']]) {
      const m = between(from!, to!, 'WA', messageOf(kind))
      t.same(findings(m, 'L1', ctx), [{ rule: 'L1', path: '/dataSubjects' }], `${kind} ${from} -> ${to} with a data subject`)
      t.same(findings({ ...m, dataSubjects: [] }, 'L1', ctx), [], `${kind} ${from} -> ${to} without`)
    }
  }
  const [v] = checkLegalBasis(between('XK-KP', 'EU-EUROPOL', 'WA'), ctx)
  t.match(v?.message, /WA allows no exchange of personal data; the message names 1 data subject$/)
})

t.test('L4: a refusal gives a ground its instrument lists', async (t) => {
  const directory = makeDirectory({ instruments: [{ id: 'OWN-GROUNDS', parties: ['AL', 'RS'], refusalGrounds: ['a', 'f'] }] })
  const ctx = makeContext({ directory })
  const table: [string, string, boolean][] = [
    ...'abcdefgh'.split('').map((g): [string, string, boolean] => ['PCC-SEE', g, true]),
    ...'abcdefgh'.split('').map((g): [string, string, boolean] => ['OWN-GROUNDS', g, g === 'a' || g === 'f']),
    ['PCC-SEE', 'z', false],
  ]
  for (const [instrument, ground, allowed] of table) {
    const m: Message = { ...messageOf('refusal'), legalBasis: { instrument }, refusal: { ground, reasons: 'r' } }
    t.same(findings(m, 'L4', ctx), allowed ? [] : [{ rule: 'L4', path: '/refusal/ground' }], `${instrument} ground (${ground})`)
  }
  const m: Message = { ...messageOf('refusal'), legalBasis: { instrument: 'OWN-GROUNDS' }, refusal: { ground: 'b', reasons: 'r' } }
  const { violations } = (await import('../../src/policy/index.ts')).checkPrinciples(m, ctx)
  t.match(violations.find((v) => v.rule === 'L4')?.message, /refusal ground b is not one of OWN-GROUNDS's grounds \(a, f\)/)
})

// The directory's own checks at load: what the schema cannot say.
const sample = JSON.parse((await import('node:fs')).readFileSync('config/directory.sample.json', 'utf8'))
function withInstrument (patch: (i: Record<string, unknown>) => void): unknown {
  const doc = structuredClone(sample)
  const i = doc.instruments.find((x: LegalInstrument) => x.id === 'EUROPOL-OA-BA')
  patch(i)
  return doc
}

t.test('L1: the directory refuses an instrument that cannot be true', async (t) => {
  const cases: [string, (i: Record<string, any>) => void, RegExp][] = [
    ['unknown hub agency', (i) => { i.covers = { hub: ['EU-NOBODY'] } }, /covers\/hub\/0: unknown agency EU-NOBODY/],
    ['hub not of a party', (i) => { i.covers = { hub: ['AL-ASP'] } }, /covers\/hub\/0: hub AL-ASP is of AL, not a party to EUROPOL-OA-BA/],
    ['unknown contact point', (i) => { i.contactPoints = { BA: ['BA-NOBODY'] } }, /contactPoints\/BA\/0: unknown agency BA-NOBODY/],
    ['contact point of another country', (i) => { i.contactPoints = { BA: ['RS-MUP'] } }, /contactPoints\/BA\/0: RS-MUP is an agency of RS, not BA/],
    ['contact points of a non-party', (i) => { i.contactPoints = { RS: ['RS-MUP'] } }, /contactPoints\/RS: RS is not a party/],
    ['validUntil before validFrom', (i) => { i.validUntil = '2016-08-30' }, /validUntil: 2016-08-30 is before validFrom 2016-08-31/],
    ['reservation of a non-party', (i) => { i.reservations = [{ party: 'RS', kinds: ['request'], note: 'n', source: 's' }] }, /reservations\/0\/party: RS is not a party/],
    ['reservation of an unknown crime area', (i) => { i.reservations = [{ party: 'BA', crimeAreas: ['jaywalking'], note: 'n', source: 's' }] }, /reservations\/0\/crimeAreas: unknown crime area jaywalking/],
  ]
  for (const [name, patch, message] of cases) {
    t.throws(() => buildDirectory(withInstrument(patch), { source: 'dir.json' }), { name: 'DirectoryError', message }, name)
  }
  const schemaCases: [string, (i: Record<string, any>) => void, RegExp][] = [
    ['no source', (i) => { delete i.source }, /must have required property 'source'/],
    ['no validFrom', (i) => { delete i.validFrom }, /must have required property 'validFrom'/],
    ['a date-time validFrom', (i) => { i.validFrom = '2016-08-31T00:00:00Z' }, /validFrom: must match/],
    ['a refusal ground of two letters', (i) => { i.refusalGrounds = ['ab'] }, /refusalGrounds\/0: must match/],
    ['a reservation with neither crime areas nor kinds', (i) => { i.reservations = [{ party: 'BA', note: 'n', source: 's' }] }, /reservations\/0: must have required property/],
  ]
  for (const [name, patch, message] of schemaCases) {
    t.throws(() => buildDirectory(withInstrument(patch), { source: 'dir.json' }), DirectoryError, name)
    try { buildDirectory(withInstrument(patch)) } catch (err) { t.match((err as Error).message, message, name) }
  }
  const defaults = buildDirectory({ ...structuredClone(sample), instruments: [{ id: 'MIN', title: 'm', parties: ['AL'], deadlineProfile: 'requester-set', maxRetentionDays: 1, validFrom: '2020-01-01', source: { title: 't', date: '2020-01-01', publishedIn: 'p' } }] })
  t.match(defaults.instruments.get('MIN'), { covers: 'any-two-parties', personalData: true, englishAccepted: false, refusalGrounds: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'] }, 'schema defaults')
})

t.test('L1: the sample directory tells the truth', async (t) => {
  const directory = loadDirectory('config/directory.sample.json')
  const ctx = makeContext({ directory, now: NOW })
  const i = (id: string) => directory.instruments.get(id)!
  t.notOk(i('EUROPOL-REG').parties.includes('DK'), 'Denmark is not bound by the Europol Regulation')
  t.match(i('EUROPOL-DK'), { parties: ['EU', 'DK'], covers: { hub: ['EU-EUROPOL'] }, validFrom: '2017-04-30', source: { date: '2017-04-29' } }, "Denmark's 2017 agreement")
  t.match(i('EUROPOL-WA-XK'), { parties: ['EU', 'XK'], personalData: false, covers: { hub: ['EU-EUROPOL'] } }, "Kosovo*'s working arrangement: no personal data")
  t.same(i('EUROPOL-OA-BA').contactPoints, { BA: ['BA-MSB'] }, "BiH's Europol contact point is the Ministry of Security")
  t.match(directory.agencies.get('BA-MSB'), { name: 'Ministry of Security of Bosnia and Herzegovina', country: 'BA' })
  t.match(directory.agencies.get('XK-KP')?.name, /^Kosovo\* /, 'Kosovo* with its asterisk')
  for (const [c, date] of [['MK', '2008-11-28'], ['ME', '2016-05-03'], ['AL', '2018-10-05'], ['RS', '2019-11-12']]) {
    t.match(i(`EUROJUST-CA-${c}`), { parties: ['EU', c], covers: { hub: ['EU-EUROJUST'] }, source: { date } }, `Eurojust and ${c}`)
  }
  for (const instrument of directory.instruments.values()) {
    t.ok(instrument.source.title && instrument.source.date && instrument.source.publishedIn, `${instrument.id} cites its source`)
  }
  // The cases, against the sample.
  const cases: [string, string, string, string[]][] = [
    ['DE-BKA', 'AT-BK', 'EUROPOL-REG', ['/to/agency']],
    ['AL-ASP', 'AL-ASP', 'EUROPOL-OA-AL', ['/to/agency']], // the self-addressed request
    ['EU-EUROPOL', 'BA-DKPT', 'EUROPOL-OA-BA', ['/to/agency']],
    ['EU-EUROPOL', 'BA-MSB', 'EUROPOL-OA-BA', []],
    ['EU-EUROPOL', 'XK-KP', 'EUROPOL-WA-XK', ['/dataSubjects']],
    ['EU-EUROJUST', 'AL-ASP', 'EUROPOL-OA-AL', ['/to/agency']],
    ['EU-EUROJUST', 'AL-ASP', 'EUROJUST-CA-AL', []],
    ['MK-MVR', 'RS-MUP', 'EUROPOL-OA-MK', ['/to/agency']],
  ]
  for (const [from, to, instrument, paths] of cases) {
    t.same(checkLegalBasis(between(from, to, instrument), ctx).map((v) => v.path), paths, `${from} -> ${to} under ${instrument}`)
  }
})
