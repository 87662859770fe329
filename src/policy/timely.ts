// Timely principle (rule T1-T4). Replay by id (T4) and delivery timeouts (T5) need state
// and are checked by the store and the delivery worker, not here.
import type { LegalInstrument } from '../directory/types.ts'
import type { Accessibility, Message } from '../intake/message.ts'
import type { Rule, Violation } from './types.ts'
import { isBlank } from './text.ts'
import { addCalendarDays } from './calendar.ts'

const HOUR_MS = 3_600_000

export type DeadlineProfile = LegalInstrument['deadlineProfile']

/** The zone calendar days are counted in when the directory names none for the requested agency. */
export const DEFAULT_TIME_ZONE = 'UTC'

/**
 * T2 deadlines of the `2023/977` profile (Directive (EU) 2023/977 Art. 5(1)): 8 hours elapsed
 * (urgent, directly accessible), 3 calendar days (urgent, indirectly accessible), 7 calendar days
 * (all other requests). Instruments with the `requester-set` profile (PCC-SEE, Europol
 * agreements) set no time limit: the requester's `answerBy`, or the instrument's default.
 */
export const EU_2023_977 = Object.freeze({ urgentDirectHours: 8, urgentIndirectDays: 3, otherDays: 7 })

/** What fixes an exchange's deadline, stored on the exchange when it opens (T2). */
export interface DeadlineTerms {
  profile: DeadlineProfile
  /** IANA zone of the requested agency: calendar days end at the same wall-clock time there. */
  timeZone: string
}

/**
 * T2: the deadline of a request, counted from receipt. Only a `request` has one (null otherwise).
 * The requester cannot know accessibility, so an urgent request starts at the strict 8 hours.
 * Under `requester-set`, the request's `answerBy` (if after receipt) or the instrument's
 * `defaultDeadlineDays`, or none.
 */
export function computeDeadline (message: Message, receivedAt: Date, instrument: LegalInstrument, timeZone: string = DEFAULT_TIME_ZONE): Date | null {
  if (message.kind !== 'request') return null
  if (instrument.deadlineProfile === 'requester-set') {
    const asked = message.answerBy === undefined ? null : parseTime(message.answerBy)
    if (asked !== null && asked > receivedAt.getTime()) return new Date(asked)
    const days = instrument.defaultDeadlineDays
    return days === undefined ? null : addCalendarDays(receivedAt, days, timeZone)
  }
  return recomputeDeadline(receivedAt, message.urgency.level, 'direct', { profile: instrument.deadlineProfile, timeZone })
}

/**
 * T2: the deadline once the requested party has stated accessibility (on a response, delay notice
 * or clarification), counted from the request's receipt. `indirect` moves only an urgent request
 * under the 2023/977 profile (8 hours -> 3 calendar days); a normal request keeps 7 days whatever
 * is stated. Null under `requester-set`: accessibility does not change a deadline the requester set.
 */
export function recomputeDeadline (
  receivedAt: Date,
  urgency: Message['urgency']['level'],
  accessibility: Accessibility,
  terms: DeadlineTerms
): Date | null {
  if (terms.profile !== '2023/977') return null
  if (urgency === 'urgent' && accessibility === 'direct') return new Date(receivedAt.getTime() + EU_2023_977.urgentDirectHours * HOUR_MS)
  return addCalendarDays(receivedAt, urgency === 'urgent' ? EU_2023_977.urgentIndirectDays : EU_2023_977.otherDays, terms.timeZone)
}

/** T1: urgent needs at least one ground and reasons; normal lists no grounds. */
export const checkUrgency: Rule = (message) => {
  const { level, grounds = [], reasons } = message.urgency
  const violations: Violation[] = []
  if (level === 'urgent') {
    if (grounds.length === 0) {
      violations.push({ rule: 'T1', path: '/urgency/grounds', message: 'an urgent message needs at least one ground' })
    }
    if (isBlank(reasons)) {
      violations.push({ rule: 'T1', path: '/urgency/reasons', message: 'an urgent message must state its reasons' })
    }
  } else if (grounds.length > 0) {
    violations.push({ rule: 'T1', path: '/urgency/grounds', message: 'a normal message must not list urgency grounds' })
  }
  return violations
}

/** Kinds on which the requested party may state accessibility (T2). */
const ACCESSIBILITY_KINDS: ReadonlySet<Message['kind']> = new Set(['response', 'delay-notice', 'clarification'])

/** T2: only the requested party states accessibility, on a reply, and gives a reason (it is logged). */
export const checkAccessibility: Rule = (message) => {
  const accessibility = message.accessibility
  if (accessibility === undefined) return []
  if (!ACCESSIBILITY_KINDS.has(message.kind)) {
    return [
      {
        rule: 'T2',
        path: '/accessibility',
        message: `accessibility is stated by the requested party on a response, delay-notice or clarification, not on a ${message.kind}`,
      },
    ]
  }
  if (isBlank(accessibility.reason)) {
    return [{ rule: 'T2', path: '/accessibility/reason', message: 'a statement of accessibility must give its reason' }]
  }
  return []
}

/**
 * T2: `answerBy` belongs on a request under an instrument without time limits, after receipt; an
 * instrument with its own limits (2023/977) fixes the deadline itself.
 */
export const checkAnswerBy: Rule = (message, { now, directory }) => {
  if (message.answerBy === undefined) return []
  const instrument = directory.instruments.get(message.legalBasis.instrument)
  if (message.kind !== 'request' || (instrument && instrument.deadlineProfile !== 'requester-set')) {
    return [{ rule: 'T2', path: '/answerBy', message: 'answerBy is set only on a request under an instrument without its own time limits' }]
  }
  const asked = parseTime(message.answerBy)
  if (asked === null || asked <= now.getTime()) return [{ rule: 'T2', path: '/answerBy', message: 'answerBy must be after receipt' }]
  return []
}

/** Milliseconds since the epoch, or null for a time JavaScript cannot read (for example a leap second). */
export function parseTime (value: string): number | null {
  const ms = Date.parse(value)
  return Number.isNaN(ms) ? null : ms
}

/** T3: the ground every instrument allows for a delay (2023/977 Art. 5(2)). */
export const JUDICIAL_AUTHORISATION = 'judicial-authorisation'

/** Longest extension, in calendar days past the deadline, for judicial authorisation when the instrument sets none. */
export const DEFAULT_JUDICIAL_DELAY_DAYS = 30

/** T3: the closed list of delay grounds under `instrument`, each with its longest extension in calendar days. */
export function delayGrounds (instrument: LegalInstrument): ReadonlyMap<string, number> {
  const grounds = new Map<string, number>([[JUDICIAL_AUTHORISATION, DEFAULT_JUDICIAL_DELAY_DAYS]])
  for (const g of instrument.delayGrounds ?? []) grounds.set(g.ground, g.maxExtensionDays)
  return grounds
}

/**
 * T3: a delay notice gives a ground from the instrument's closed list, the expected time of the
 * answer, after receipt, and its reasons. Whether it came before the deadline and how far it may
 * extend it needs the exchange (`checkDelayAgainstDeadline`).
 */
export const checkDelayNotice: Rule = (message, { now, directory }) => {
  if (message.kind !== 'delay-notice') return []
  const delay = message.delay
  if (delay === undefined) return [{ rule: 'T3', path: '/delay', message: 'a delay notice must give ground, expectedBy and reasons' }]
  const violations: Violation[] = []
  const instrument = directory.instruments.get(message.legalBasis.instrument)
  if (instrument) {
    const grounds = delayGrounds(instrument)
    if (!grounds.has(delay.ground)) {
      violations.push({ rule: 'T3', path: '/delay/ground', message: `a delay under ${instrument.id} may only rest on: ${[...grounds.keys()].join(', ')}` })
    }
  }
  const expectedBy = parseTime(delay.expectedBy)
  if (expectedBy === null || expectedBy <= now.getTime()) {
    violations.push({ rule: 'T3', path: '/delay/expectedBy', message: 'the expected answer time must be in the future' })
  }
  if (isBlank(delay.reasons)) {
    violations.push({ rule: 'T3', path: '/delay/reasons', message: 'a delay notice must state its reasons' })
  }
  return violations
}

/**
 * T3 against the exchange: a delay notice must arrive before the deadline (or, updating an earlier
 * notice, before the announced time), on an exchange not already overdue, and may extend the
 * deadline at most by its ground's allowance, counted in calendar days in the requested agency's
 * zone from the deadline itself (updates never compound).
 */
export function checkDelayAgainstDeadline (d: {
  at: Date
  deadline: Date | null
  delayedUntil: Date | null
  overdueAt: Date | null
  delay: NonNullable<Message['delay']>
  instrument: LegalInstrument
  timeZone: string
}): Violation[] {
  if (d.deadline === null) return []
  const runsUntil = Math.max(d.deadline.getTime(), d.delayedUntil?.getTime() ?? 0)
  if (d.overdueAt !== null || d.at.getTime() >= runsUntil) {
    return [{ rule: 'T3', path: '/delay', message: `a delay notice must arrive before the deadline (${new Date(runsUntil).toISOString()}); a missed deadline stays missed` }]
  }
  const allowance = delayGrounds(d.instrument).get(d.delay.ground)
  const expectedBy = parseTime(d.delay.expectedBy)
  if (allowance === undefined || expectedBy === null) return []
  const limit = addCalendarDays(d.deadline, allowance, d.timeZone)
  if (expectedBy > limit.getTime()) {
    return [{ rule: 'T3', path: '/delay/expectedBy', message: `${d.delay.ground} extends the deadline by at most ${allowance} days, to ${limit.toISOString()}` }]
  }
  return []
}

/** T4 (freshness only): `createdAt` within [now - maxAgeSeconds, now + maxSkewSeconds]. */
export const checkFreshness: Rule = (message, { now, limits }) => {
  const created = parseTime(message.createdAt)
  if (created === null) return [{ rule: 'T4', path: '/createdAt', message: 'createdAt is not a readable time' }]
  if (created < now.getTime() - limits.maxAgeSeconds * 1000) {
    return [{ rule: 'T4', path: '/createdAt', message: `stale: createdAt is more than ${limits.maxAgeSeconds} s before receipt` }]
  }
  if (created > now.getTime() + limits.maxSkewSeconds * 1000) {
    return [{ rule: 'T4', path: '/createdAt', message: `future: createdAt is more than ${limits.maxSkewSeconds} s after receipt` }]
  }
  return []
}

export const TIMELY_RULES: readonly Rule[] = [checkUrgency, checkAccessibility, checkAnswerBy, checkDelayNotice, checkFreshness]
