// Legal principle (rule L1-L5). Pure functions of the message and the directory.
import type { Agency, Directory, LegalInstrument } from '../directory/types.ts'
import type { Message } from '../intake/message.ts'
import type { Rule, Violation } from './types.ts'
import { isBlank } from './text.ts'

/** 2023/977 Art. 6(1): the closed list of refusal grounds (L4). */
export const REFUSAL_GROUNDS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'] as const

/**
 * L1: why `instrument` does not cover a message from `from` to `to`, or undefined when it does:
 * both countries are parties, a hub instrument has a hub agency at exactly one end, and a
 * country with named contact points speaks only through them. Shared by intake and `leix example`.
 */
export function coverageGap (instrument: LegalInstrument, from: Agency, to: Agency): { end: 'from' | 'to'; message: string } | undefined {
  for (const [end, agency] of [['from', from], ['to', to]] as const) {
    if (!instrument.parties.includes(agency.country)) {
      return { end, message: `${agency.country} (${end === 'from' ? 'sender' : 'recipient'} ${agency.id}) is not a party to ${instrument.id}` }
    }
  }
  if (instrument.covers !== 'any-two-parties') {
    const hub = instrument.covers.hub
    const hubs = [from, to].filter((a) => hub.includes(a.id)).length
    if (hubs !== 1) {
      return {
        end: 'to',
        message: `${instrument.id} covers exchanges between ${hub.join(' or ')} and a party's agency only, not ${from.id} to ${to.id}`,
      }
    }
  }
  for (const [end, agency] of [['from', from], ['to', to]] as const) {
    const points = instrument.contactPoints?.[agency.country]
    if (points !== undefined && !points.includes(agency.id)) {
      return { end, message: `under ${instrument.id}, ${agency.country} exchanges only through ${points.join(', ')}, not ${agency.id}` }
    }
  }
  return undefined
}

/** L1: whether the instrument applies on the day of `at` (UTC dates, `validUntil` inclusive). */
export function inForce (instrument: LegalInstrument, at: Date): boolean {
  const day = at.toISOString().slice(0, 10)
  return day >= instrument.validFrom && (instrument.validUntil === undefined || day <= instrument.validUntil)
}

/**
 * L1: the instrument is in the registry, in force on the day of receipt, and covers the pair
 * (parties, hub, contact points); no party's reservation excludes the message; personal data only
 * where the instrument allows it; never to one's own agency.
 * Agencies missing from the directory are skipped here: `checkRegisteredAgencies` (S1) reports them.
 */
export const checkLegalBasis: Rule = (message, { directory, now }) => {
  const violations: Violation[] = []
  if (message.from.agency === message.to.agency) {
    violations.push({ rule: 'L1', path: '/to/agency', message: `${message.to.agency} cannot send a message to itself: an exchange has two agencies` })
  }
  const id = message.legalBasis.instrument
  const instrument = directory.instruments.get(id)
  if (instrument === undefined) {
    return [...violations, { rule: 'L1', path: '/legalBasis/instrument', message: `legal instrument ${id} is not in the registry` }]
  }
  if (!inForce(instrument, now)) {
    violations.push({
      rule: 'L1',
      path: '/legalBasis/instrument',
      message: `${instrument.id} applies from ${instrument.validFrom}${instrument.validUntil ? ` until ${instrument.validUntil}` : ''}, not on ${now.toISOString().slice(0, 10)}`,
    })
  }
  const from = directory.agencies.get(message.from.agency)
  const to = directory.agencies.get(message.to.agency)
  // Every known end that is not a party; if both are parties, the pair rules (hub, contact points).
  let parties = true
  for (const [end, agency] of [['from', from], ['to', to]] as const) {
    if (agency !== undefined && !instrument.parties.includes(agency.country)) {
      parties = false
      violations.push({ rule: 'L1', path: `/${end}/agency`, message: `${agency.country} (${end === 'from' ? 'sender' : 'recipient'} ${agency.id}) is not a party to ${instrument.id}` })
    }
  }
  if (parties && from !== undefined && to !== undefined && from.id !== to.id) {
    const gap = coverageGap(instrument, from, to)
    if (gap !== undefined) violations.push({ rule: 'L1', path: `/${gap.end}/agency`, message: gap.message })
  }
  for (const reservation of instrument.reservations ?? []) {
    // A reservation limits the reserving party both as sender and as recipient.
    if (![from, to].some((a) => a?.country === reservation.party)) continue
    const areas = (reservation.crimeAreas ?? []).filter((area) => (message.crimeAreas as readonly string[]).includes(area))
    if (areas.length > 0) {
      violations.push({ rule: 'L1', path: '/crimeAreas', message: `${reservation.party} excludes ${areas.join(', ')} from ${instrument.id}: ${reservation.note} (${reservation.source})` })
    }
    if (reservation.kinds?.includes(message.kind)) {
      violations.push({ rule: 'L1', path: '/kind', message: `${reservation.party} excludes ${message.kind} messages from ${instrument.id}: ${reservation.note} (${reservation.source})` })
    }
  }
  if (!instrument.personalData && message.dataSubjects.length > 0) {
    violations.push({
      rule: 'L1',
      path: '/dataSubjects',
      message: `${instrument.id} allows no exchange of personal data; the message names ${message.dataSubjects.length} data subject${message.dataSubjects.length === 1 ? '' : 's'}`,
    })
  }
  return violations
}

/** The purpose fields a request must state (L2), in the order they are reported. */
const REQUEST_PURPOSE_FIELDS = ['statement', 'offence', 'facts', 'availabilityGrounds', 'personLink', 'necessity'] as const

/**
 * L2: a request states its purpose, offence, facts, why the information is believed available,
 * the link between purpose and person (only when it names data subjects) and its necessity.
 */
export const checkPurpose: Rule = (message) => {
  if (message.kind !== 'request') return []
  const violations: Violation[] = []
  for (const field of REQUEST_PURPOSE_FIELDS) {
    if (field === 'personLink' && message.dataSubjects.length === 0) continue
    if (isBlank(message.purpose[field])) {
      violations.push({ rule: 'L2', path: `/purpose/${field}`, message: `a request must state purpose.${field}` })
    }
  }
  return violations
}

/** L3: every message carries a case reference and the acting officer's id. */
export const checkAccountability: Rule = (message) => {
  const violations: Violation[] = []
  if (isBlank(message.caseRef)) {
    violations.push({ rule: 'L3', path: '/caseRef', message: 'case reference must not be blank' })
  }
  if (isBlank(message.from.officer)) {
    violations.push({ rule: 'L3', path: '/from/officer', message: "acting officer's id must not be blank" })
  }
  return violations
}

/**
 * L4: a refusal gives one ground of its instrument's closed list (2023/977 Art. 6(1) (a)-(h) unless
 * the instrument lists its own) and its reasons. An unknown instrument is L1's finding; its
 * refusal is then checked against (a)-(h).
 */
export const checkRefusal: Rule = (message, { directory }) => {
  if (message.kind !== 'refusal') return []
  const refusal = message.refusal
  if (refusal === undefined) return [{ rule: 'L4', path: '/refusal', message: 'a refusal must give a ground and reasons' }]
  const violations: Violation[] = []
  const instrument = directory.instruments.get(message.legalBasis.instrument)
  const grounds: readonly string[] = instrument?.refusalGrounds ?? REFUSAL_GROUNDS
  if (!grounds.includes(refusal.ground)) {
    violations.push({
      rule: 'L4',
      path: '/refusal/ground',
      message: `refusal ground ${refusal.ground} is not one of ${instrument?.id ?? '2023/977 Art. 6(1)'}'s grounds (${grounds.join(', ')})`,
    })
  }
  if (isBlank(refusal.reasons)) {
    violations.push({ rule: 'L4', path: '/refusal/reasons', message: 'a refusal must state its reasons' })
  }
  return violations
}

/** EU member states and EU bodies (country `EU`) are on the EU side of L5. */
export function isEuSide (country: string, directory: Directory): boolean {
  return country === 'EU' || directory.euMemberStates.has(country)
}

/**
 * True when personal data leaves the EU side (a member state or an EU body such as Europol) for a
 * third country: the sender is on the EU side and the recipient is not (L5). Data arriving in the
 * EU from a third country is not a transfer under LED Chapter V, and neither is an exchange
 * between two third countries or inside the EU.
 */
export function isThirdCountryTransfer (message: Message, directory: Directory): boolean {
  const from = directory.agencies.get(message.from.agency)
  const to = directory.agencies.get(message.to.agency)
  if (from === undefined || to === undefined) return false
  return isEuSide(from.country, directory) && !isEuSide(to.country, directory)
}

/**
 * L5: data leaving the EU side for a third country names a transfer basis with a reference, and
 * the recipient is a competent authority. The prior authorisation of another member state whose
 * data is passed on (LED Art. 35(1)(c)) needs the store: `checkOnwardUse` (D6) judges it.
 */
export const checkTransfer: Rule = (message, { directory }) => {
  if (!isThirdCountryTransfer(message, directory)) return []
  const violations: Violation[] = []
  const transfer = message.legalBasis.transfer
  if (transfer === undefined) {
    violations.push({
      rule: 'L5',
      path: '/legalBasis/transfer',
      message: 'personal data leaving the EU side for a third country needs a transfer basis (adequacy, safeguards or derogation)',
    })
  } else if (isBlank(transfer.reference)) {
    violations.push({ rule: 'L5', path: '/legalBasis/transfer/reference', message: 'the transfer basis must name its reference' })
  }
  const recipient = directory.agencies.get(message.to.agency)
  if (recipient !== undefined && !recipient.competentAuthority) {
    violations.push({
      rule: 'L5',
      path: '/to/agency',
      message: `${recipient.id} is not a competent authority and cannot receive a third-country transfer`,
    })
  }
  return violations
}

/**
 * L5: what the sealed event of an accepted third-country transfer records — its basis and
 * reference — so that they survive the erasure of the payload. Empty for other messages.
 */
export function transferDetails (message: Message, directory: Directory): { transferBasis?: string; transferReference?: string } {
  const transfer = message.legalBasis.transfer
  if (!transfer || !isThirdCountryTransfer(message, directory)) return {}
  return { transferBasis: transfer.basis, transferReference: transfer.reference.slice(0, 256) }
}

export const LEGAL_RULES: readonly Rule[] = [checkLegalBasis, checkPurpose, checkAccountability, checkRefusal, checkTransfer]
