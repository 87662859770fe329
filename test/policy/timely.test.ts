import t from 'tap'
import type { LegalInstrument } from '../../src/directory/types.ts'
import type { Message } from '../../src/intake/message.ts'
import { computeDeadline, recomputeDeadline } from '../../src/policy/index.ts'
import { checkFreshness } from '../../src/policy/timely.ts'
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
  t.equal(recomputeDeadline(received, 'urgent', 'indirect', '2023/977').toISOString(), '2026-03-09T16:00:00.000Z', 'urgent indirect: 3 days')
  t.equal(recomputeDeadline(received, 'urgent', 'direct', '2023/977').getTime(), received.getTime() + 8 * HOUR, 'urgent direct: 8 hours')
  t.equal(recomputeDeadline(received, 'normal', 'indirect', '2023/977').getTime(), received.getTime() + 7 * DAY, 'normal indirect: 7 days')
  t.equal(recomputeDeadline(received, 'normal', 'direct', '2023/977').getTime(), received.getTime() + 7 * DAY, 'normal direct: 7 days')
})

t.test('T2 deadlines, 2006/960 profile', async (t) => {
  const pcc = makeDirectory().instruments.get('PCC-SEE') as LegalInstrument
  t.equal(pcc.deadlineProfile, '2006/960')
  t.equal(computeDeadline(request(), NOW, pcc)?.getTime(), NOW.getTime() + 14 * DAY, 'normal: 14 days')
  t.equal(computeDeadline(urgent(request()), NOW, pcc)?.getTime(), NOW.getTime() + 8 * HOUR, 'urgent: 8 hours')
  t.equal(recomputeDeadline(NOW, 'urgent', 'indirect', '2006/960').getTime(), NOW.getTime() + 7 * DAY, 'urgent indirect: 7 days')
  t.equal(recomputeDeadline(NOW, 'normal', 'indirect', '2006/960').getTime(), NOW.getTime() + 14 * DAY, 'normal indirect: 14 days')
  t.equal(recomputeDeadline(NOW, 'normal', 'direct', '2006/960').getTime(), NOW.getTime() + 14 * DAY, 'normal direct: 14 days')
})

t.test('T3 delay notice', async (t) => {
  t.same(findings(messageOf('delay-notice'), 'T3'), [])
  const notice = (expectedBy: string, reasons = 'Awaiting the court'): Message => ({ ...messageOf('delay-notice'), delay: { expectedBy, reasons } })
  t.same(findings(notice(iso(1000)), 'T3'), [], 'one second ahead')
  t.same(findings(notice(iso(0)), 'T3'), [{ rule: 'T3', path: '/delay/expectedBy' }], 'now is not the future')
  t.same(findings(notice(iso(-DAY)), 'T3'), [{ rule: 'T3', path: '/delay/expectedBy' }])
  t.same(findings(notice(iso(DAY), ' '), 'T3'), [{ rule: 'T3', path: '/delay/reasons' }])
  const noDelay: Message = messageOf('delay-notice')
  delete noDelay.delay
  t.same(findings(noDelay, 'T3'), [{ rule: 'T3', path: '/delay' }], 'defensive, the schema already requires it')
  t.same(findings({ ...messageOf('response') }, 'T3'), [], 'only delay notices')
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
