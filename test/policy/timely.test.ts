import t from 'tap'
import type { LegalInstrument } from '../../src/directory/types.ts'
import type { Message } from '../../src/intake/message.ts'
import { addCalendarDays, checkDelayAgainstDeadline, computeDeadline, recomputeDeadline } from '../../src/policy/index.ts'
import { checkFreshness } from '../../src/policy/timely.ts'
import { zoneOffset } from '../../src/policy/calendar.ts'
import { DAY, HOUR, findings, makeContext, makeDirectory, messageOf, NOW, request } from './fixtures.ts'

const urgent = (m: Message): Message => ({
  ...m,
  urgency: { level: 'urgent', grounds: ['threat-to-life'], reasons: 'Hostage situation' },
})
const iso = (ms: number): string => new Date(NOW.getTime() + ms).toISOString()

t.test('T1 urgency', async (t) => {
  t.same(findings(request(), 'T1'), [], 'normal without grounds')
  t.same(findings(urgent(request()), 'T1'), [], 'urgent with grounds and reasons')
  t.same(findings({ ...request(), urgency: { level: 'normal', grounds: [] } }, 'T1'), [], 'normal with an empty list')

  t.same(findings({ ...request(), urgency: { level: 'urgent' } }, 'T1'), [
    { rule: 'T1', path: '/urgency/grounds' },
    { rule: 'T1', path: '/urgency/reasons' },
  ])
  t.same(findings({ ...request(), urgency: { level: 'urgent', grounds: ['loss-of-relevance'], reasons: ' ' } }, 'T1'), [
    { rule: 'T1', path: '/urgency/reasons' },
  ])
  t.same(findings({ ...request(), urgency: { level: 'normal', grounds: ['threat-to-life'] } }, 'T1'), [
    { rule: 'T1', path: '/urgency/grounds' },
  ])
})

t.test('T2 accessibility statement', async (t) => {
  for (const kind of ['response', 'delay-notice', 'clarification'] as const) {
    t.same(findings({ ...messageOf(kind), accessibility: { level: 'indirect', reason: 'Held by the court registry' } }, 'T2'), [], kind)
  }
  t.same(findings({ ...request(), accessibility: { level: 'direct', reason: 'x' } }, 'T2'), [{ rule: 'T2', path: '/accessibility' }])
  t.same(findings({ ...messageOf('refusal'), accessibility: { level: 'direct', reason: 'x' } }, 'T2'), [{ rule: 'T2', path: '/accessibility' }])
  t.same(findings({ ...messageOf('response'), accessibility: { level: 'indirect', reason: '' } }, 'T2'), [
    { rule: 'T2', path: '/accessibility/reason' },
  ])
})

t.test('T2 deadlines, 2023/977 profile', async (t) => {
  const eu = makeDirectory().instruments.get('EU-2023/977') as LegalInstrument
  const received = new Date('2026-03-06T16:00:00Z') // a Friday: calendar days count the weekend
  t.equal(computeDeadline(request(), received, eu)?.toISOString(), '2026-03-13T16:00:00.000Z', 'normal: 7 days')
  t.equal(computeDeadline(urgent(request()), received, eu)?.toISOString(), '2026-03-07T00:00:00.000Z', 'urgent: 8 hours')
  for (const kind of ['response', 'refusal', 'clarification', 'delay-notice', 'spontaneous', 'correction'] as const) {
    t.equal(computeDeadline(messageOf(kind), received, eu), null, `${kind} has no deadline`)
  }
  const terms = { profile: '2023/977' as const, timeZone: 'UTC' }
  t.equal(recomputeDeadline(received, 'urgent', 'indirect', terms)?.toISOString(), '2026-03-09T16:00:00.000Z', 'urgent indirect: 3 days')
  t.equal(recomputeDeadline(received, 'urgent', 'direct', terms)?.getTime(), received.getTime() + 8 * HOUR, 'urgent direct: 8 hours')
  t.equal(recomputeDeadline(received, 'normal', 'indirect', terms)?.getTime(), received.getTime() + 7 * DAY, 'normal indirect: 7 days')
  t.equal(recomputeDeadline(received, 'normal', 'direct', terms)?.getTime(), received.getTime() + 7 * DAY, 'normal direct: 7 days')
})

// Friday 10:00 Belgrade time before the spring and the autumn change, and in a week without one.
const BELGRADE_FRIDAYS = [
  { label: 'spring (CET -> CEST)', friday: '2026-03-27T09:00:00Z', monday: '2026-03-30T08:00:00.000Z', nextFriday: '2026-04-03T08:00:00.000Z' },
  { label: 'autumn (CEST -> CET)', friday: '2026-10-23T08:00:00Z', monday: '2026-10-26T09:00:00.000Z', nextFriday: '2026-10-30T09:00:00.000Z' },
  { label: 'no change (CET)', friday: '2026-01-09T09:00:00Z', monday: '2026-01-12T09:00:00.000Z', nextFriday: '2026-01-16T09:00:00.000Z' },
]

t.test('T2 2023/977 profile table: urgency x accessibility x DST dates, calendar days in the requested agency\'s zone', async (t) => {
  for (const d of BELGRADE_FRIDAYS) {
    const received = new Date(d.friday)
    const terms = { profile: '2023/977' as const, timeZone: 'Europe/Belgrade' }
    const cases: Array<[Message['urgency']['level'], 'direct' | 'indirect', string]> = [
      ['urgent', 'direct', new Date(received.getTime() + 8 * HOUR).toISOString()],
      ['urgent', 'indirect', d.monday],
      ['normal', 'direct', d.nextFriday],
      ['normal', 'indirect', d.nextFriday],
    ]
    for (const [urgency, accessibility, want] of cases) {
      t.equal(recomputeDeadline(received, urgency, accessibility, terms)?.toISOString(), want, `${d.label}: ${urgency}, ${accessibility}`)
    }
  }
  // The same instant in another zone: Vienna and Belgrade share their offset, Sofia is an hour ahead
  // but changes at the same instant, so each counts to its own 10:00 / 11:00 on Monday.
  const received = new Date(BELGRADE_FRIDAYS[0]!.friday)
  for (const timeZone of ['Europe/Vienna', 'Europe/Sofia', 'Europe/Tirane']) {
    t.equal(recomputeDeadline(received, 'urgent', 'indirect', { profile: '2023/977', timeZone })?.toISOString(), '2026-03-30T08:00:00.000Z', `${timeZone}: 3 calendar days`)
  }
  t.equal(recomputeDeadline(received, 'urgent', 'indirect', { profile: '2023/977', timeZone: 'America/New_York' })?.toISOString(), '2026-03-30T09:00:00.000Z',
    'New York changed earlier (8 March): no change inside these three days, so 72 hours')
})

t.test('T2 calendar arithmetic: skipped and repeated wall-clock times', async (t) => {
  t.equal(addCalendarDays(new Date('2026-03-28T01:30:00Z'), 1, 'Europe/Belgrade').toISOString(), '2026-03-29T01:30:00.000Z', '02:30 does not exist on 29 March: 03:30 CEST')
  t.equal(addCalendarDays(new Date('2026-10-24T00:30:00Z'), 1, 'Europe/Belgrade').toISOString(), '2026-10-25T00:30:00.000Z', '02:30 happens twice on 25 October: the first')
  t.equal(addCalendarDays(new Date('2028-02-28T12:00:00Z'), 1, 'UTC').toISOString(), '2028-02-29T12:00:00.000Z', 'leap day')
})

t.test('T2 requester-set profile (PCC-SEE, Europol agreements): the requester\'s answerBy, else the configured default, else none', async (t) => {
  const directory = makeDirectory()
  const pcc = directory.instruments.get('PCC-SEE') as LegalInstrument
  t.equal(pcc.deadlineProfile, 'requester-set')
  t.equal(computeDeadline(request(), NOW, pcc), null, 'no limit and no default: no deadline')
  t.equal(computeDeadline(urgent(request()), NOW, pcc), null, 'urgency does not invent a 2023/977 deadline')
  const asked = new Date(NOW.getTime() + 5 * DAY)
  t.equal(computeDeadline({ ...request(), answerBy: asked.toISOString() }, NOW, pcc)?.toISOString(), asked.toISOString(), 'answerBy')
  const withDefault = { ...pcc, defaultDeadlineDays: 3 }
  t.equal(computeDeadline(request(), new Date(BELGRADE_FRIDAYS[1]!.friday), withDefault, 'Europe/Belgrade')?.toISOString(), BELGRADE_FRIDAYS[1]!.monday, 'default in calendar days, DST-correct')
  t.equal(recomputeDeadline(NOW, 'urgent', 'indirect', { profile: 'requester-set', timeZone: 'UTC' }), null, 'accessibility does not move it')
  t.same(findings({ ...request(), answerBy: asked.toISOString() }, 'T2'), [])
  t.same(findings({ ...request(), answerBy: new Date(NOW.getTime() - 1000).toISOString() }, 'T2'), [{ rule: 'T2', path: '/answerBy' }], 'answerBy after receipt')
  t.same(findings({ ...request(), legalBasis: { ...request().legalBasis, instrument: 'EU-2023/977' }, answerBy: asked.toISOString() }, 'T2'),
    [{ rule: 'T2', path: '/answerBy' }], '2023/977 fixes its own deadlines')
})

t.test('T3 delay notice', async (t) => {
  t.same(findings(messageOf('delay-notice'), 'T3'), [])
  const notice = (expectedBy: string, reasons = 'Awaiting the court', ground = 'judicial-authorisation'): Message => ({ ...messageOf('delay-notice'), delay: { ground, expectedBy, reasons } })
  t.same(findings(notice(iso(1000)), 'T3'), [], 'one second ahead')
  t.same(findings(notice(iso(0)), 'T3'), [{ rule: 'T3', path: '/delay/expectedBy' }], 'now is not the future')
  t.same(findings(notice(iso(-DAY)), 'T3'), [{ rule: 'T3', path: '/delay/expectedBy' }])
  t.same(findings(notice(iso(DAY), ' '), 'T3'), [{ rule: 'T3', path: '/delay/reasons' }])
  const noDelay: Message = messageOf('delay-notice')
  delete noDelay.delay
  t.same(findings(noDelay, 'T3'), [{ rule: 'T3', path: '/delay' }], 'defensive, the schema already requires it')
  t.same(findings({ ...messageOf('response') }, 'T3'), [], 'only delay notices')
})

t.test('T3 delay ground from the closed list: judicial-authorisation plus what the instrument adds', async (t) => {
  const notice = (ground: string): Message => ({ ...messageOf('delay-notice'), delay: { ground, expectedBy: iso(DAY), reasons: 'Awaiting the court' } })
  t.same(findings(notice('judicial-authorisation'), 'T3'), [])
  t.same(findings(notice('workload'), 'T3'), [{ rule: 'T3', path: '/delay/ground' }], 'not on the list')
  const directory = makeDirectory()
  const pcc = directory.instruments.get('PCC-SEE') as LegalInstrument
  const instruments = new Map(directory.instruments)
  instruments.set('PCC-SEE', { ...pcc, delayGrounds: [{ ground: 'translation', maxExtensionDays: 2 }] })
  t.same(findings(notice('translation'), 'T3', makeContext({ directory: { ...directory, instruments } })), [], 'an instrument adds its own ground')
})

t.test('T3 delay against the deadline: before it, within the ground\'s allowance, never after a miss', async (t) => {
  const eu = makeDirectory().instruments.get('EU-2023/977') as LegalInstrument
  const deadline = new Date(BELGRADE_FRIDAYS[0]!.friday) // Friday 10:00 Belgrade, before the spring change
  const check = (o: { at: number; expectedBy: Date; ground?: string; overdue?: boolean; delayedUntil?: Date; instrument?: LegalInstrument }) => checkDelayAgainstDeadline({
    at: new Date(deadline.getTime() + o.at), deadline, delayedUntil: o.delayedUntil ?? null, overdueAt: o.overdue ? deadline : null,
    delay: { ground: o.ground ?? 'judicial-authorisation', expectedBy: o.expectedBy.toISOString(), reasons: 'Court' }, instrument: o.instrument ?? eu, timeZone: 'Europe/Belgrade',
  }).map((v) => ({ rule: v.rule, path: v.path }))
  // 30 calendar days from Friday 27 March 10:00 CET: Sunday 26 April 10:00 CEST (08:00Z), 719 elapsed hours.
  const limit = new Date('2026-04-26T08:00:00Z')
  t.same(check({ at: -1000, expectedBy: limit }), [], 'before the deadline, up to the allowance (calendar days, DST-correct)')
  t.same(check({ at: -1000, expectedBy: new Date(limit.getTime() + 1000) }), [{ rule: 'T3', path: '/delay/expectedBy' }], 'beyond the allowance')
  t.same(check({ at: 0, expectedBy: limit }), [{ rule: 'T3', path: '/delay' }], 'at the deadline is too late')
  t.same(check({ at: -1000, expectedBy: limit, overdue: true }), [{ rule: 'T3', path: '/delay' }], 'a flagged miss is never erased')
  t.same(check({ at: HOUR, expectedBy: limit, delayedUntil: new Date(deadline.getTime() + DAY) }), [], 'an update before the announced time')
  t.same(check({ at: 2 * DAY, expectedBy: limit, delayedUntil: new Date(deadline.getTime() + DAY) }), [{ rule: 'T3', path: '/delay' }], 'not after the announced time')
  const strict = { ...eu, delayGrounds: [{ ground: 'judicial-authorisation', maxExtensionDays: 3 }] }
  t.same(check({ at: -1000, expectedBy: new Date('2026-03-30T08:00:00Z'), instrument: strict }), [], 'a member state\'s shorter allowance: 3 days')
  t.same(check({ at: -1000, expectedBy: new Date('2026-03-30T08:00:01Z'), instrument: strict }), [{ rule: 'T3', path: '/delay/expectedBy' }])
  t.same(checkDelayAgainstDeadline({ at: deadline, deadline: null, delayedUntil: null, overdueAt: null, delay: { ground: 'judicial-authorisation', expectedBy: limit.toISOString(), reasons: 'x' }, instrument: eu, timeZone: 'UTC' }), [],
    'no deadline runs: nothing to extend')
})

t.test('T4 freshness with a fixed now', async (t) => {
  const created = (ms: number): Message => ({ ...request(), createdAt: iso(ms) })
  t.same(findings(created(0), 'T4'), [])
  t.same(findings(created(-300_000), 'T4'), [], 'exactly maxAgeSeconds old')
  t.same(findings(created(30_000), 'T4'), [], 'exactly maxSkewSeconds ahead')
  t.same(findings(created(-300_001), 'T4'), [{ rule: 'T4', path: '/createdAt' }], 'stale')
  t.same(findings(created(30_001), 'T4'), [{ rule: 'T4', path: '/createdAt' }], 'future')
  t.match(checkFreshness(created(-400_000), makeContext())[0]?.message, /^stale/)
  t.match(checkFreshness(created(40_000), makeContext())[0]?.message, /^future/)
  t.same(findings({ ...request(), createdAt: '2026-03-02T09:59:60Z' }, 'T4'), [{ rule: 'T4', path: '/createdAt' }], 'unreadable time')
  const ctx = makeContext({ limits: { maxSkewSeconds: 5, maxAgeSeconds: 3600 } })
  t.same(findings(created(-1800_000), 'T4', ctx), [], 'limits come from the context')
  t.same(findings(created(10_000), 'T4', ctx), [{ rule: 'T4', path: '/createdAt' }])
})

t.test('zoneOffset: the per-minute memo gives what the zone database says, asked again and again, around DST changes', async (t) => {
  // Belgrade springs forward 2027-03-28 01:00 UTC and falls back 2027-10-31 01:00 UTC; Tirana and
  // Skopje alike; UTC never changes.
  const zones = ['Europe/Belgrade', 'Europe/Tirane', 'Europe/Skopje', 'UTC', 'Asia/Kathmandu']
  const instants = ['2027-03-28T00:59:59.999Z', '2027-03-28T01:00:00.000Z', '2027-03-28T01:00:30.500Z', '2027-10-31T00:59:59.999Z', '2027-10-31T01:00:00.000Z', '2027-10-31T01:59:59.000Z']
  const fresh = (ms: number, zone: string): number => {
    const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })
      .formatToParts(new Date(ms)).filter((p) => p.type !== 'literal').map((p) => [p.type, Number(p.value)]))
    return Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second) - (ms - (((ms % 1000) + 1000) % 1000))
  }
  for (const zone of zones) {
    for (const at of instants) {
      const ms = Date.parse(at)
      for (let i = 0; i < 3; i++) t.equal(zoneOffset(ms, zone), fresh(ms, zone), `${zone} at ${at} (ask ${i + 1})`)
    }
  }
  t.equal(zoneOffset(Date.parse('2027-03-28T00:59:59.999Z'), 'Europe/Belgrade'), 3_600_000, 'CET before the change')
  t.equal(zoneOffset(Date.parse('2027-03-28T01:00:00.000Z'), 'Europe/Belgrade'), 7_200_000, 'CEST from the change')
})
