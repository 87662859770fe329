// Data protection and human rights (rule D1-D7).
// D1 (every person has a category) is enforced by the schema. D3-D5 do not reject: they hold the
// message for review by a DPO. D6 (onward use) needs the exchange history: the store handles it.
import type { LegalInstrument } from '../directory/types.ts'
import type { Message } from '../intake/message.ts'
import type { Hold, HoldRule, Rule, Violation } from './types.ts'
import { isBlank } from './text.ts'
import { parseTime } from './timely.ts'

const DAY_MS = 86_400_000

/** D2: a subject with special categories carries a justification and a basis. */
export const checkSpecialCategories: Rule = (message) => {
  const violations: Violation[] = []
  message.dataSubjects.forEach((subject, i) => {
    if (subject.specialCategories === undefined || subject.specialCategories.length === 0) return
    if (isBlank(subject.specialJustification)) {
      violations.push({
        rule: 'D2',
        path: `/dataSubjects/${i}/specialJustification`,
        message: 'special categories of data need a justification of strict necessity',
      })
    }
    if (subject.specialBasis === undefined) {
      violations.push({
        rule: 'D2',
        path: `/dataSubjects/${i}/specialBasis`,
        message: 'special categories of data need a basis (law, vital-interests or made-public)',
      })
    }
  })
  return violations
}

/** D7: the latest erase-by / review-by date the instrument allows, and what is wrong with the message's. */
export interface RetentionCheck {
  /** receivedAt + instrument.maxRetentionDays (calendar days). */
  cap: Date
  violations: Violation[]
}

/**
 * D7: `retention.eraseBy` and `retention.reviewBy` must each be after `receivedAt` and no later than
 * `receivedAt + instrument.maxRetentionDays`.
 */
export function retentionCap (message: Message, receivedAt: Date, instrument: LegalInstrument): RetentionCheck {
  const cap = new Date(receivedAt.getTime() + instrument.maxRetentionDays * DAY_MS)
  const violations: Violation[] = []
  for (const field of ['eraseBy', 'reviewBy'] as const) {
    const value = message.retention[field]
    if (value === undefined) continue
    const at = parseTime(value)
    const path = `/retention/${field}`
    if (at === null || at <= receivedAt.getTime()) {
      violations.push({ rule: 'D7', path, message: `${field} must be in the future` })
    } else if (at > cap.getTime()) {
      violations.push({
        rule: 'D7',
        path,
        message: `${field} is later than ${instrument.id} allows (${instrument.maxRetentionDays} days from receipt, ${cap.toISOString()})`,
      })
    }
  }
  return { cap, violations }
}

/** D7 as a rule, with receipt = `ctx.now`. An unknown instrument is L1's to report. */
export const checkRetention: Rule = (message, { directory, now }) => {
  const instrument = directory.instruments.get(message.legalBasis.instrument)
  return instrument === undefined ? [] : retentionCap(message, now, instrument).violations
}

/** D3: a minor among the data subjects is held for review. */
export const holdMinors: HoldRule = (message) => {
  const holds: Hold[] = []
  message.dataSubjects.forEach((subject, i) => {
    if (subject.minor === true) {
      holds.push({ rule: 'D3', path: `/dataSubjects/${i}/minor`, message: 'a data subject is a minor' })
    }
  })
  return holds
}

/** D4: an asylum seeker or refugee must not reach the country fled without review. */
export const holdNonRefoulement: HoldRule = (message, { directory }) => {
  const recipient = directory.agencies.get(message.to.agency)
  if (recipient === undefined) return []
  const holds: Hold[] = []
  message.dataSubjects.forEach((subject, i) => {
    if (subject.protectionStatus !== undefined && subject.countryOfFlight === recipient.country) {
      holds.push({
        rule: 'D4',
        path: `/dataSubjects/${i}/countryOfFlight`,
        message: `a data subject is an ${subject.protectionStatus} who fled ${recipient.country}, the recipient's country`,
      })
    }
  })
  return holds
}

/** D5: a message about a person to a country marked as a human-rights risk is held for review. */
export const holdRiskCountry: HoldRule = (message, { directory }) => {
  const recipient = directory.agencies.get(message.to.agency)
  if (recipient === undefined || message.dataSubjects.length === 0) return []
  if (!directory.riskCountries.has(recipient.country)) return []
  return [
    {
      rule: 'D5',
      path: '/to/agency',
      message: `${recipient.country} is marked as a human-rights risk and the message concerns persons`,
    },
  ]
}

export const DATA_PROTECTION_RULES: readonly Rule[] = [checkSpecialCategories, checkRetention]
export const DATA_PROTECTION_HOLDS: readonly HoldRule[] = [holdMinors, holdNonRefoulement, holdRiskCountry]
