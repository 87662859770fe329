// Timely principle (rule T1-T4). Replay by id (T4) and delivery timeouts (T5) need state
// and are checked by the store and the delivery worker, not here.
import type { LegalInstrument } from '../directory/types.ts'
import type { Accessibility, Message } from '../intake/message.ts'
import type { Rule, Violation } from './types.ts'
import { isBlank } from './text.ts'

const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS

export type DeadlineProfile = LegalInstrument['deadlineProfile']

/**
 * T2 deadlines in milliseconds from receipt. Calendar days, so weekends count.
 * 2023/977 Art. 5: 8 hours (urgent, directly accessible), 3 days (urgent, indirectly accessible),
 * 7 days (all other requests). 2006/960 profile: 8 hours / 7 days / 14 days
 * in the same three slots.
 */
export const DEADLINE_PROFILES: Readonly<
  Record<DeadlineProfile, { urgentDirect: number; urgentIndirect: number; other: number }>
> = Object.freeze({
  '2023/977': Object.freeze({ urgentDirect: 8 * HOUR_MS, urgentIndirect: 3 * DAY_MS, other: 7 * DAY_MS }),
  '2006/960': Object.freeze({ urgentDirect: 8 * HOUR_MS, urgentIndirect: 7 * DAY_MS, other: 14 * DAY_MS }),
})

/**
 * T2: the deadline of a request, counted from receipt. Only a `request` has one (null otherwise).
 * The requester cannot know accessibility, so an urgent request starts at the strict 8 hours.
 */
export function computeDeadline (message: Message, receivedAt: Date, instrument: LegalInstrument): Date | null {
  if (message.kind !== 'request') return null
  return recomputeDeadline(receivedAt, message.urgency.level, 'direct', instrument.deadlineProfile)
}

/**
 * T2: the deadline once the requested party has stated accessibility (on a response, delay notice
 * or clarification). Counted from the request's receipt. `indirect` moves only an urgent request
 * (8 hours -> 3 days, or 7 days in the 2006/960 profile); a normal request keeps 7 (or 14) days
 * whatever is stated, so a statement never shortens a deadline already running.
 */
export function recomputeDeadline (
  receivedAt: Date,
  urgency: Message['urgency']['level'],
  accessibility: Accessibility,
  profile: DeadlineProfile
): Date {
  const p = DEADLINE_PROFILES[profile]
  const ms = urgency === 'urgent' ? (accessibility === 'indirect' ? p.urgentIndirect : p.urgentDirect) : p.other
  return new Date(receivedAt.getTime() + ms)
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

/** Milliseconds since the epoch, or null for a time JavaScript cannot read (for example a leap second). */
export function parseTime (value: string): number | null {
  const ms = Date.parse(value)
  return Number.isNaN(ms) ? null : ms
}

/**
 * T3: a delay notice gives the expected time of the answer, after receipt, and its reasons.
 * Whether it came before the deadline needs the exchange; the store checks that.
 */
export const checkDelayNotice: Rule = (message, { now }) => {
  if (message.kind !== 'delay-notice') return []
  const delay = message.delay
  if (delay === undefined) return [{ rule: 'T3', path: '/delay', message: 'a delay notice must give expectedBy and reasons' }]
  const violations: Violation[] = []
  const expectedBy = parseTime(delay.expectedBy)
  if (expectedBy === null || expectedBy <= now.getTime()) {
    violations.push({ rule: 'T3', path: '/delay/expectedBy', message: 'the expected answer time must be in the future' })
  }
  if (isBlank(delay.reasons)) {
    violations.push({ rule: 'T3', path: '/delay/reasons', message: 'a delay notice must state its reasons' })
  }
  return violations
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

export const TIMELY_RULES: readonly Rule[] = [checkUrgency, checkAccessibility, checkDelayNotice, checkFreshness]
