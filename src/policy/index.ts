// The policy check of intake: every principle rule over one message, all findings collected.
import type { Message } from '../intake/message.ts'
import { DATA_PROTECTION_HOLDS, DATA_PROTECTION_RULES } from './data-protection.ts'
import { LEGAL_RULES } from './legal.ts'
import { LANGUAGE_RULES } from './language.ts'
import { QUALITY_RULES } from './quality.ts'
import { SECURE_RULES } from './secure.ts'
import { TIMELY_RULES } from './timely.ts'
import type { Hold, HoldRule, PolicyContext, Rule, Violation } from './types.ts'

export type * from './types.ts'
export { DEFAULT_POLICY_LIMITS } from './types.ts'
export { computeDeadline, recomputeDeadline, checkDelayAgainstDeadline, delayGrounds, DEFAULT_TIME_ZONE, EU_2023_977, JUDICIAL_AUTHORISATION, type DeadlineTerms } from './timely.ts'
export { addCalendarDays, isTimeZone } from './calendar.ts'
export type { DeadlineProfile } from './timely.ts'
export { addCalendarPeriod, instrumentsReviewedBy, isMinorAt, onwardCountries, retentionCap, reviewAuthority, reviewBodyOf } from './data-protection.ts'
export type { RetentionCheck } from './data-protection.ts'
export { checkSenderBinding } from './secure.ts'
export { acceptedOpeningLanguages, acceptedReplyLanguages, checkReplyLanguage, languageMatches } from './language.ts'

/** Every rejecting rule, in report order: legal, timely, proactive (language), secure, quality, data protection. */
export const RULES: readonly Rule[] = [
  ...LEGAL_RULES,
  ...TIMELY_RULES,
  ...LANGUAGE_RULES,
  ...SECURE_RULES,
  ...QUALITY_RULES,
  ...DATA_PROTECTION_RULES,
]

/** Every rule whose findings hold the message for review (D3, D4, D5). */
export const HOLD_RULES: readonly HoldRule[] = [...DATA_PROTECTION_HOLDS]

export interface PrinciplesResult {
  /** Non-empty: reject the message (problem+json with these). */
  violations: Violation[]
  /** Non-empty (and no violations): accept, but hold for review before delivery. */
  holds: Hold[]
}

/**
 * Runs every rule on a schema-valid message; never stops at the first finding.
 * `ctx.now` is the receipt time. Pure: same input, same output.
 */
export function checkPrinciples (message: Message, ctx: PolicyContext): PrinciplesResult {
  return {
    violations: RULES.flatMap((rule) => rule(message, ctx)),
    holds: HOLD_RULES.flatMap((rule) => rule(message, ctx)),
  }
}
