// Data protection and human rights (rule D1-D7).
// D1 (every person has a category) is enforced by the schema. D3-D5 do not reject: they hold the
// message for review by a DPO. D6 (onward use) needs the exchange history: the store handles it.
import type { Directory, LegalInstrument, RetentionPeriod } from '../directory/types.ts'
import type { Message } from '../intake/message.ts'
import type { Hold, HoldRule, Rule, Violation } from './types.ts'
import { isBlank } from './text.ts'
import { parseTime } from './timely.ts'

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

/**
 * `at` plus a period by calendar arithmetic in UTC: years and months first, clamped to the last day
 * of a shorter month (five years from 29 Feb 2028 is 28 Feb 2033; one month from 31 Jan is 28/29
 * Feb), then days. The time of day is kept.
 */
export function addCalendarPeriod (at: Date, period: RetentionPeriod): Date {
  const months = at.getUTCMonth() + 12 * (period.years ?? 0) + (period.months ?? 0)
  const year = at.getUTCFullYear() + Math.floor(months / 12)
  const month = ((months % 12) + 12) % 12
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate()
  const shifted = new Date(at.getTime())
  shifted.setUTCFullYear(year, month, Math.min(at.getUTCDate(), lastDay))
  shifted.setUTCDate(shifted.getUTCDate() + (period.days ?? 0))
  return shifted
}

/** The period in words, for messages: `5 years`, `1 year 6 months`, `30 days`. */
export function describePeriod (period: RetentionPeriod): string {
  const parts: string[] = []
  for (const unit of ['years', 'months', 'days'] as const) {
    const n = period[unit]
    if (n !== undefined && n > 0) parts.push(`${n} ${n === 1 ? unit.slice(0, -1) : unit}`)
  }
  return parts.join(' ')
}

/** D7: the latest erase-by / review-by date the instrument allows, and what is wrong with the message's. */
export interface RetentionCheck {
  /** receivedAt + instrument.maxRetention (calendar arithmetic, `addCalendarPeriod`). */
  cap: Date
  violations: Violation[]
}

/**
 * D7: `retention.eraseBy` and `retention.reviewBy` must each be after `receivedAt` and no later than
 * `receivedAt + instrument.maxRetention`. The cap is also the erase-by date of a message that names
 * only a review-by date.
 */
export function retentionCap (message: Message, receivedAt: Date, instrument: LegalInstrument): RetentionCheck {
  const cap = addCalendarPeriod(receivedAt, instrument.maxRetention)
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
        message: `${field} is later than ${instrument.id} allows (${describePeriod(instrument.maxRetention)} from receipt, ${cap.toISOString()})`,
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

/** Age of majority for D3 (UN Convention on the Rights of the Child, Art. 1). */
export const MAJORITY_AGE = 18

/**
 * A `dateOfBirth` (`YYYY-MM-DD`, or `YYYY` when only the year is known) as the latest day the person
 * can have been born: a year alone counts as 31 December, so an uncertain age is read as the younger
 * one (D3, conservative). `null` for a date that does not exist (30 February, month 13).
 */
export function latestBirthDate (dateOfBirth: string): { year: number; month: number; day: number } | null {
  const m = /^(\d{4})(?:-(\d{2})-(\d{2}))?$/.exec(dateOfBirth)
  if (m === null) return null
  const year = Number(m[1])
  if (m[2] === undefined) return { year, month: 12, day: 31 }
  const month = Number(m[2])
  const day = Number(m[3])
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return null
  return { year, month, day }
}

/**
 * Is a person born `dateOfBirth` under 18 at `at` (UTC calendar date)? Calendar arithmetic: the
 * 18th birthday is the same month and day 18 years later; for 29 February in a year without one,
 * 1 March (the person is still a minor on 28 February). `null` when the date does not exist or is
 * after `at` (`checkDatesOfBirth` refuses both).
 */
export function isMinorAt (dateOfBirth: string, at: Date): boolean | null {
  const born = latestBirthDate(dateOfBirth)
  if (born === null) return null
  const y = at.getUTCFullYear()
  const md = (at.getUTCMonth() + 1) * 100 + at.getUTCDate()
  if (dateOfBirth.length === 10 ? dateOfBirth > at.toISOString().slice(0, 10) : born.year > y) return null
  const adultYear = born.year + MAJORITY_AGE
  return y < adultYear || (y === adultYear && md < born.month * 100 + born.day)
}

/**
 * D3: a date of birth must exist and not be after receipt (UTC calendar date), else the message is
 * refused: a hold for review cannot repair a date the sender got wrong.
 */
export const checkDatesOfBirth: Rule = (message, { now }) => {
  const violations: Violation[] = []
  message.dataSubjects.forEach((subject, i) => {
    if (subject.dateOfBirth === undefined) return
    const path = `/dataSubjects/${i}/dateOfBirth`
    if (latestBirthDate(subject.dateOfBirth) === null) {
      violations.push({ rule: 'D3', path, message: 'the date of birth does not exist' })
    } else if (isMinorAt(subject.dateOfBirth, now) === null) {
      violations.push({ rule: 'D3', path, message: 'the date of birth is after receipt' })
    }
  })
  return violations
}

/**
 * D3: a minor among the data subjects is held for review: flagged `minor`, or under 18 at receipt
 * by `dateOfBirth` whatever the flag says.
 */
export const holdMinors: HoldRule = (message, { now }) => {
  const holds: Hold[] = []
  message.dataSubjects.forEach((subject, i) => {
    if (subject.minor === true) {
      holds.push({ rule: 'D3', path: `/dataSubjects/${i}/minor`, message: 'a data subject is a minor' })
    } else if (subject.dateOfBirth !== undefined && isMinorAt(subject.dateOfBirth, now) === true) {
      holds.push({ rule: 'D3', path: `/dataSubjects/${i}/dateOfBirth`, message: 'a data subject is under 18 at receipt by the date of birth' })
    }
  })
  return holds
}

/**
 * D4: countries a recipient may pass data to, besides its own: those named in its `mayPassTo`
 * directory setting, and every other party of an instrument the recipient's country is party to
 * (Europol, party `EU`, with each operational partner; PCC-SEE with every party).
 */
export function onwardCountries (directory: Directory, agencyId: string): Set<string> {
  const agency = directory.agencies.get(agencyId)
  const countries = new Set<string>(agency?.mayPassTo ?? [])
  if (agency === undefined) return countries
  for (const instrument of directory.instruments.values()) {
    // Under an instrument that carries no personal data (L1), nothing about a person flows on.
    if (!instrument.parties.includes(agency.country) || instrument.personalData === false) continue
    const covers = instrument.covers
    // A hub instrument (Europol's agreements) links its partners with the hub only: a partner can
    // pass data to the hub, the hub to every partner.
    const reachable = typeof covers === 'object' && !covers.hub.includes(agency.id)
      ? covers.hub.map((id) => directory.agencies.get(id)?.country).filter((c): c is string => c !== undefined)
      : instrument.parties
    for (const party of reachable) if (party !== agency.country) countries.add(party)
  }
  return countries
}

/**
 * D4: an asylum seeker or refugee must not reach the country fled without review: held when the
 * country of flight is unknown (a risk), is the recipient's, or is one the recipient may pass data
 * to (`onwardCountries`).
 */
export const holdNonRefoulement: HoldRule = (message, { directory }) => {
  const recipient = directory.agencies.get(message.to.agency)
  if (recipient === undefined) return []
  const holds: Hold[] = []
  let onward: Set<string> | undefined
  message.dataSubjects.forEach((subject, i) => {
    if (subject.protectionStatus === undefined) return
    const fled = subject.countryOfFlight
    if (fled === undefined) {
      holds.push({ rule: 'D4', path: `/dataSubjects/${i}/protectionStatus`, message: `a data subject is an ${subject.protectionStatus} whose country of flight is unknown` })
    } else if (fled === recipient.country) {
      holds.push({ rule: 'D4', path: `/dataSubjects/${i}/countryOfFlight`, message: `a data subject is an ${subject.protectionStatus} who fled ${fled}, the recipient's country` })
    } else if ((onward ??= onwardCountries(directory, recipient.id)).has(fled)) {
      holds.push({ rule: 'D4', path: `/dataSubjects/${i}/countryOfFlight`, message: `a data subject is an ${subject.protectionStatus} who fled ${fled}, where the recipient may pass data` })
    }
  })
  return holds
}

/**
 * D3-D5: the agency whose DPO decides on a message held under `instrumentId`: the instrument's
 * `reviewBody`, else the directory's `hubReviewBody`; `undefined` when neither is set (the sender's
 * DPO decides alone, as before review bodies existed).
 */
export function reviewBodyOf (directory: Directory, instrumentId: string): string | undefined {
  return directory.instruments.get(instrumentId)?.reviewBody ?? directory.hubReviewBody
}

/**
 * D3-D5: what `agency`'s DPO may decide on a held message: the review body releases and rejects;
 * the sender may reject (withdraw) its own message, and release it only when it is the review body
 * or no review body is set.
 */
export function reviewAuthority (directory: Directory, held: { sender: string; legalBasis: string }, agency: string): { release: boolean; reject: boolean; authority: 'review-body' | 'sender-dpo' } | null {
  const body = reviewBodyOf(directory, held.legalBasis)
  if (body === agency || (body === undefined && held.sender === agency)) return { release: true, reject: true, authority: body === undefined ? 'sender-dpo' : 'review-body' }
  if (held.sender === agency) return { release: false, reject: true, authority: 'sender-dpo' }
  return null
}

/** D3-D5: the instruments whose held messages `agency`'s DPO reviews as review body. */
export function instrumentsReviewedBy (directory: Directory, agency: string): string[] {
  return [...directory.instruments.values()].filter((i) => reviewBodyOf(directory, i.id) === agency).map((i) => i.id)
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

export const DATA_PROTECTION_RULES: readonly Rule[] = [checkSpecialCategories, checkDatesOfBirth, checkRetention]
export const DATA_PROTECTION_HOLDS: readonly HoldRule[] = [holdMinors, holdNonRefoulement, holdRiskCountry]
