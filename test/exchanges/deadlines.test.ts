// Deadlines (T2, T3) and overdue exchanges, driven by the injected clock: the watcher flags each
// overdue exchange once, records exchange.overdue and notifies both agencies.
import t from 'tap'
import { ManualClock } from '../../src/config/clock.ts'
import { addCalendarDays } from '../../src/policy/calendar.ts'
import { parseDeadlineWarnings, warningAt } from '../../src/exchanges/deadlines.ts'
import { verifyNotification } from '../../src/delivery/signature.ts'
import { count, requestMessage, sign, submit, tokenFor } from '../helpers.ts'
import { deliveryApp, startRecipient, waitFor, writeDirectory } from '../delivery/helpers.ts'

const recipient = await startRecipient(t)
const directoryPath = writeDirectory(t, { 'AL-ASP': { webhook: recipient.url } })
const clock = new ManualClock(new Date())
const { app, rt, service } = await deliveryApp(t, { clock, config: { directoryPath } })
const jwks = (await app.inject('/.well-known/jwks.json')).json()

const HOUR = 3_600_000
const DAY = 24 * HOUR

function reply (kind: string, inReplyTo: string, o: { from?: string; to?: string } = {}, patch: Record<string, unknown> = {}): Record<string, any> {
  const base = requestMessage(clock, { from: o.from ?? 'RS-MUP', to: o.to ?? 'AL-ASP' })
  const m: Record<string, any> = { ...base, kind, inReplyTo, purpose: { statement: 'Reply in case CASE-2026-0815' }, body: { facts: 'Facts.' } }
  if (kind === 'response') m.evaluation = { source: 'B', information: '2' }
  return { ...m, ...patch }
}
async function open (patch: Record<string, unknown> = {}, pair: { from?: string; to?: string } = {}): Promise<{ id: string; exchangeId: string; deadline: Date }> {
  const m = requestMessage(clock, pair, patch)
  const res = await submit(app, await sign(m))
  if (res.statusCode !== 202) throw new Error(res.body)
  return { id: m.id, exchangeId: res.json().exchangeId, deadline: new Date(res.json().deadline) }
}
async function send (m: Record<string, any>): Promise<void> {
  const res = await submit(app, await sign(m))
  if (res.statusCode !== 202) throw new Error(`${m.kind}: ${res.body}`)
}
const overdueNow = async () => (await service.watcher.runOnce()).overdue
const exchange = async (id: string) => (await rt.pool.query('SELECT * FROM exchanges WHERE id = $1', [id])).rows[0]
const get = (agency: string, url: string) => app.inject({ url, headers: { authorization: `Bearer ${tokenFor(app, agency)}` } })

t.test('an unanswered request becomes overdue once its deadline passes; both agencies are told', async (t) => {
  const { id, exchangeId, deadline } = await open()
  t.equal(deadline.getTime() - clock.now().getTime(), 14 * DAY, 'PCC-SEE: no time limit, the sample directory\'s default of 14 calendar days (T2)')
  t.notOk((await overdueNow()).includes(exchangeId))
  clock.set(deadline.getTime() - 1000)
  t.notOk((await overdueNow()).includes(exchangeId), 'not a second early')
  clock.set(deadline.getTime() + 1000)
  t.same(await overdueNow(), [exchangeId])
  t.same(await overdueNow(), [], 'flagged once')
  const e = await exchange(exchangeId)
  t.equal(e.overdue_at.toISOString(), clock.now().toISOString())
  t.equal(e.status, 'accepted', 'overdue is a flag, not a state: it can still be answered')
  const event = (await rt.pool.query("SELECT event FROM audit_events WHERE type = 'exchange.overdue' AND exchange_id = $1", [exchangeId])).rows
  t.equal(event.length, 1)
  t.match(event[0].event, { agencies: ['AL-ASP', 'RS-MUP'], messageId: id, reason: 'T2', details: { deadline: deadline.toISOString(), overdueSeconds: 1 } })

  for (const agency of ['AL-ASP', 'RS-MUP']) {
    const detail = (await get(agency, `/v1/exchanges/${exchangeId}`)).json()
    t.equal(detail.overdue, true, `${agency} sees it overdue`)
    t.ok(detail.timeline.some((x: { event: string }) => x.event === 'exchange.overdue'))
    const listed = (await get(agency, '/v1/exchanges?overdue=true')).json().items.map((x: { id: string }) => x.id)
    t.ok(listed.includes(exchangeId))
    const notes = (await get(agency, '/v1/notifications')).json().items
    t.match(notes.find((n: { exchangeId: string; type: string }) => n.exchangeId === exchangeId && n.type === 'exchange.overdue'), {
      agency, details: { deadline: deadline.toISOString() },
    })
  }
  const pushed = await waitFor('the signed notification at AL-ASP', async () => {
    for (const r of recipient.notifications) {
      const n = await verifyNotification(r.body, jwks)
      if (n.exchangeId === exchangeId && n.type === 'exchange.overdue') return n
    }
    return undefined
  })
  t.match(pushed, { type: 'exchange.overdue', agency: 'AL-ASP', messageId: id })
  await waitFor('the push recorded', async () => (await count(rt, "SELECT 1 FROM notifications WHERE exchange_id = $1 AND type = 'exchange.overdue' AND agency = 'AL-ASP' AND push_status = 'delivered'", [exchangeId])) === 1)
  t.equal(await count(rt, "SELECT 1 FROM notifications WHERE exchange_id = $1 AND type = 'exchange.overdue' AND agency = 'RS-MUP' AND push_status IS NULL", [exchangeId]), 1, 'a pull agency reads it from the list')

  t.test('an overdue exchange can still be answered', async (t) => {
    await send(reply('response', id))
    t.equal((await exchange(exchangeId)).status, 'answered')
  })
})

t.test('an answered exchange is never overdue', async (t) => {
  const { id, exchangeId, deadline } = await open()
  await send(reply('response', id))
  clock.set(deadline.getTime() + DAY)
  t.notOk((await overdueNow()).includes(exchangeId))
})

const delivered = (id: string) => waitFor(`message ${id} delivered`, async () =>
  (await rt.pool.query('SELECT delivered_at FROM messages WHERE id = $1', [id])).rows[0]?.delivered_at ?? undefined) as Promise<Date>

t.test('T2 clarification: the deadline pauses from when the requester received the question, resumes on its answer', async (t) => {
  const { id, exchangeId, deadline } = await open()
  clock.advance(DAY)
  const ask = reply('clarification', id)
  await send(ask)
  const receivedAt = await delivered(ask.id)
  clock.set(deadline.getTime() + 2 * DAY)
  t.notOk((await overdueNow()).includes(exchangeId), 'not overdue while paused')
  await send(reply('clarification', ask.id, { from: 'AL-ASP', to: 'RS-MUP' }))
  const resumed = await exchange(exchangeId)
  const newDeadline = deadline.getTime() + (clock.now().getTime() - receivedAt.getTime())
  t.equal(resumed.deadline.getTime(), newDeadline, 'the deadline moved on by the whole pause')
  t.notOk((await overdueNow()).includes(exchangeId))
  clock.set(newDeadline + 1000)
  t.same((await overdueNow()).filter((x) => x === exchangeId), [exchangeId], 'overdue at the moved deadline')
})

t.test('T2 clarification to a pull requester: the pause starts at its inbox fetch, not at broker intake', async (t) => {
  const { id, exchangeId, deadline } = await open({}, { from: 'RS-MUP', to: 'AL-ASP' })
  const ask = reply('clarification', id, { from: 'AL-ASP', to: 'RS-MUP' })
  await send(ask)
  clock.advance(DAY) // the question waits a day in RS-MUP's inbox: the deadline runs meanwhile
  const ack = await app.inject({ method: 'POST', url: `/v1/inbox/${ask.id}/ack`, headers: { authorization: `Bearer ${tokenFor(app, 'RS-MUP', ['system'])}` } })
  t.equal(ack.statusCode, 200, ack.body)
  clock.advance(2 * DAY)
  await send(reply('clarification', ask.id, { from: 'RS-MUP', to: 'AL-ASP' }))
  t.equal((await exchange(exchangeId)).deadline.getTime() - deadline.getTime(), 2 * DAY, 'paused two days (fetch to answer), not three')
})

t.test('T3 delay notice: not overdue while the announced delay runs, overdue once it is exceeded', async (t) => {
  const { id, exchangeId, deadline } = await open()
  const expectedBy = new Date(deadline.getTime() + 2 * DAY)
  await send(reply('delay-notice', id, {}, { delay: { ground: 'judicial-authorisation', expectedBy: expectedBy.toISOString(), reasons: 'Awaiting judicial authorisation.' } }))
  t.equal((await exchange(exchangeId)).status, 'delayed')
  clock.set(deadline.getTime() + DAY)
  t.notOk((await overdueNow()).includes(exchangeId), 'past the deadline but within the announced delay')
  clock.set(expectedBy.getTime() + 1000)
  t.ok((await overdueNow()).includes(exchangeId), 'the announced delay is exceeded')

  const early = await open()
  const soon = new Date(clock.now().getTime() + DAY)
  await send(reply('delay-notice', early.id, {}, { delay: { ground: 'judicial-authorisation', expectedBy: soon.toISOString(), reasons: 'Awaiting a court.' } }))
  clock.set(soon.getTime() + 1000)
  t.notOk((await overdueNow()).includes(early.exchangeId), 'a delay within the deadline does not make it overdue')
  clock.set(early.deadline.getTime() + 1000)
  t.ok((await overdueNow()).includes(early.exchangeId), 'overdue at the deadline itself')
})

const refused = async (m: Record<string, any>) => {
  const res = await submit(app, await sign(m))
  return { status: res.statusCode, violations: (res.json().violations ?? []).map((v: { rule: string; path: string }) => `${v.rule} ${v.path}`) }
}

t.test('T3 delay notice refused: a ground off the closed list, beyond its allowance, after the deadline; the miss stays', async (t) => {
  const { id, exchangeId, deadline } = await open()
  const notice = (delay: Record<string, string>) => reply('delay-notice', id, {}, { delay: { ground: 'judicial-authorisation', reasons: 'Awaiting a court.', expectedBy: new Date(deadline.getTime() + DAY).toISOString(), ...delay } })
  t.same(await refused(notice({ ground: 'workload' })), { status: 422, violations: ['T3 /delay/ground'] }, 'not on the list')
  t.same(await refused(notice({ expectedBy: new Date(deadline.getTime() + 31 * DAY).toISOString() })), { status: 422, violations: ['T3 /delay/expectedBy'] }, 'beyond 30 days')
  clock.set(deadline.getTime() + 1000)
  t.same(await refused(notice({ expectedBy: new Date(deadline.getTime() + 2 * DAY).toISOString() })), { status: 422, violations: ['T3 /delay'] }, 'after the deadline, even before the watcher ran')
  t.ok((await overdueNow()).includes(exchangeId), 'the miss is flagged')
  const e = await exchange(exchangeId)
  t.not(e.overdue_at, null)
  t.equal(e.status, 'accepted')
})

const EU = { legalBasis: { instrument: 'EU-2023/977', article: 'Art. 5' } }
const EU_PAIR = { from: 'AT-BK', to: 'SI-POL' }
const URGENT = { urgency: { level: 'urgent', grounds: ['threat-to-life'], reasons: 'A witness has been threatened.' } }
const euReply = (kind: string, inReplyTo: string, patch: Record<string, unknown> = {}) => reply(kind, inReplyTo, { from: 'SI-POL', to: 'AT-BK' }, { ...EU, ...patch })

t.test('T2 urgent under EU-2023/977: 8 hours, or 3 calendar days once the requested party states indirect accessibility', async (t) => {
  const direct = await open({ ...EU, ...URGENT }, EU_PAIR)
  t.equal(direct.deadline.getTime() - clock.now().getTime(), 8 * HOUR)
  const indirect = await open({ ...EU, ...URGENT }, EU_PAIR)
  await send(euReply('delay-notice', indirect.id, {
    ...URGENT,
    accessibility: { level: 'indirect', reason: 'Held by the vehicle registry, not by the police.' },
    delay: { ground: 'judicial-authorisation', expectedBy: new Date(clock.now().getTime() + 2 * DAY).toISOString(), reasons: 'Registry request sent.' },
  }))
  const moved = await exchange(indirect.exchangeId)
  t.equal(moved.deadline.toISOString(), addCalendarDays(moved.opened_at, 3, 'Europe/Ljubljana').toISOString(), '3 calendar days in SI-POL\'s zone')
  t.equal(moved.deadline_profile, '2023/977')
  t.equal(moved.time_zone, 'Europe/Ljubljana')
  clock.advance(9 * HOUR)
  const flagged = await overdueNow()
  t.ok(flagged.includes(direct.exchangeId), 'the direct one is overdue after 8 hours')
  t.notOk(flagged.includes(indirect.exchangeId), 'the indirect one is not')
})

t.test('L1: the profile belongs to the exchange; a reply citing another instrument is refused', async (t) => {
  const urgent = await open({ ...EU, ...URGENT }, { from: 'AT-BK', to: 'SI-POL' })
  const before = await exchange(urgent.exchangeId)
  const other = euReply('delay-notice', urgent.id, {
    legalBasis: { instrument: 'PCC-SEE', article: 'Art. 5' }, ...URGENT,
    delay: { ground: 'judicial-authorisation', expectedBy: new Date(clock.now().getTime() + 2 * HOUR).toISOString(), reasons: 'Awaiting a court.' },
  })
  t.same(await refused(other), { status: 422, violations: ['L1 /legalBasis/instrument'] })
  t.equal((await exchange(urgent.exchangeId)).deadline.getTime(), before.deadline.getTime(), 'the deadline did not move')
})

t.test('T2 stating indirect accessibility after the 8 hours never erases the miss', async (t) => {
  const late = await open({ ...EU, ...URGENT }, EU_PAIR)
  clock.advance(9 * HOUR)
  t.ok((await overdueNow()).includes(late.exchangeId), 'overdue under the strict 8 hours')
  await send(euReply('response', late.id, {
    ...URGENT, evaluation: { source: 'B', information: '2' },
    accessibility: { level: 'indirect', reason: 'Held by the vehicle registry, not by the police.' },
  }))
  const e = await exchange(late.exchangeId)
  t.not(e.overdue_at, null, 'still missed')
  t.equal(e.deadline.getTime(), late.deadline.getTime(), 'the missed deadline did not move')
  t.equal((await get('AT-BK', `/v1/exchanges/${late.exchangeId}`)).json().overdue, true)
  const stated = (await rt.pool.query("SELECT event FROM audit_events WHERE type = 'exchange.accessibility-stated' AND exchange_id = $1", [late.exchangeId])).rows[0]
  t.match(stated.event.details, { moved: false, missed: true })
})

t.test('T2 a late indirect statement lengthens a deadline still running', async (t) => {
  const running = await open({ ...EU, ...URGENT }, EU_PAIR)
  clock.advance(7 * HOUR)
  await send(euReply('clarification', running.id, { accessibility: { level: 'indirect', reason: 'Held by the land registry.' } }))
  const e = await exchange(running.exchangeId)
  t.equal(e.deadline.toISOString(), addCalendarDays(e.opened_at, 3, 'Europe/Ljubljana').toISOString())
  t.equal(e.overdue_at, null)
})

t.test('a held exchange waits for review: its deadline does not run out meanwhile', async (t) => {
  const res = await submit(app, await sign(requestMessage(clock, {}, { dataSubjects: [{ ref: 'SUBJ-M2', category: 'victim', minor: true }] })))
  t.equal(res.json().status, 'held')
  clock.advance(15 * DAY)
  t.notOk((await overdueNow()).includes(res.json().exchangeId))
})

t.test('time spent in review stays added when the requested party later states accessibility', async (t) => {
  const urgency = URGENT
  const m = requestMessage(clock, EU_PAIR, { ...EU, ...urgency, dataSubjects: [{ ref: 'SUBJ-M3', category: 'victim', minor: true }] })
  const held = await submit(app, await sign(m))
  t.equal(held.json().status, 'held')
  const openedAt = clock.now().getTime()
  clock.advance(2 * HOUR)
  const release = await app.inject({
    method: 'POST', url: `/v1/messages/${m.id}/review`, headers: { authorization: `Bearer ${tokenFor(app, 'AT-BK', ['dpo'])}` },
    payload: { decision: 'release', justification: 'The minor is a victim; the request protects them.' },
  })
  t.equal(release.statusCode, 200, release.body)
  const released = await exchange(held.json().exchangeId)
  t.equal(released.deadline.getTime() - openedAt, 8 * HOUR + 2 * HOUR, 'the 8 hours run from release')
  await send(euReply('delay-notice', m.id, {
    ...urgency,
    accessibility: { level: 'indirect', reason: 'Held by the civil registry.' },
    delay: { ground: 'judicial-authorisation', expectedBy: new Date(clock.now().getTime() + DAY).toISOString(), reasons: 'Registry request sent.' },
  }))
  const moved = await exchange(held.json().exchangeId)
  t.equal(moved.deadline.getTime() - addCalendarDays(new Date(openedAt), 3, 'Europe/Ljubljana').getTime(), 2 * HOUR, 'indirect: 3 calendar days, still plus the 2 hours in review')
})

t.test('T2 deadline warnings setting: shares of the time and times before the deadline', async (t) => {
  t.same(parseDeadlineWarnings('75%, 1h,30m,90s,2d'), [
    { key: '75%', fraction: 0.75 }, { key: '1h', beforeSeconds: 3600 }, { key: '30m', beforeSeconds: 1800 }, { key: '90s', beforeSeconds: 90 }, { key: '2d', beforeSeconds: 172_800 },
  ])
  t.same(parseDeadlineWarnings(''), [], 'none')
  t.throws(() => parseDeadlineWarnings('soon'))
  t.throws(() => parseDeadlineWarnings('0%'))
  const opened = new Date('2026-03-27T09:00:00Z')
  const deadline = new Date('2026-03-30T08:00:00Z') // 3 calendar days in Belgrade across the spring change: 71 hours
  t.equal(warningAt(opened, deadline, { key: '75%', fraction: 0.75 }).toISOString(), '2026-03-29T14:15:00.000Z', '75 % of 71 elapsed hours')
  t.equal(warningAt(opened, deadline, { key: '1h', beforeSeconds: 3600 }).toISOString(), '2026-03-30T07:00:00.000Z')
})

t.test('T2 deadline warnings: both parties are told once per warning, pushed and listed, audited', async (t) => {
  const { id, exchangeId, deadline } = await open()
  const openedAt = clock.now()
  const warnedNow = async () => (await service.watcher.warnOnce()).filter((x) => x === exchangeId)
  const at75 = warningAt(openedAt, deadline, { key: '75%', fraction: 0.75 })
  clock.set(at75.getTime() - 1000)
  t.same(await warnedNow(), [], 'not before 75 % of the time')
  clock.set(at75.getTime())
  t.same(await warnedNow(), [exchangeId], '75 %')
  t.same(await warnedNow(), [], 'once')
  clock.set(deadline.getTime() - HOUR)
  t.same(await warnedNow(), [exchangeId], 'one hour before')
  t.same(await warnedNow(), [], 'once')
  const events = (await rt.pool.query("SELECT event FROM audit_events WHERE type = 'exchange.deadline-warning' AND exchange_id = $1 ORDER BY at", [exchangeId])).rows
  t.equal(events.length, 2)
  t.match(events[0].event, { agencies: ['AL-ASP', 'RS-MUP'], messageId: id, reason: 'T2', details: { warning: '75%', deadline: deadline.toISOString() } })
  t.match(events[1].event, { details: { warning: '1h', secondsLeft: 3600 } })
  for (const agency of ['AL-ASP', 'RS-MUP']) {
    const notes = (await get(agency, '/v1/notifications')).json().items
      .filter((n: { exchangeId: string; type: string }) => n.exchangeId === exchangeId && n.type === 'exchange.deadline-warning')
    t.equal(notes.length, 2, `${agency} lists both warnings`)
  }
  await waitFor('the warning pushed to AL-ASP', async () => {
    for (const r of recipient.notifications) {
      const n = await verifyNotification(r.body, jwks)
      if (n.exchangeId === exchangeId && n.type === 'exchange.deadline-warning') return n
    }
    return undefined
  })
  clock.set(deadline.getTime() + 1000)
  t.same(await warnedNow(), [], 'no warning once the deadline has passed')
})

t.test('T2 deadline warnings: none for an answered exchange; a moved deadline warns again', async (t) => {
  const answered = await open()
  await send(reply('response', answered.id))
  const running = await open({ ...EU, ...URGENT }, EU_PAIR)
  clock.advance(6 * HOUR) // 75 % of 8 hours
  const first = (await service.watcher.warnOnce())
  t.notOk(first.includes(answered.exchangeId))
  t.ok(first.includes(running.exchangeId), '75 % of the 8 hours')
  await send(euReply('clarification', running.id, { accessibility: { level: 'indirect', reason: 'Held by the land registry.' } }))
  const moved = await exchange(running.exchangeId)
  t.equal(moved.status, 'clarification')
  t.notOk((await service.watcher.warnOnce()).includes(running.exchangeId), 'no warning while paused')
})
