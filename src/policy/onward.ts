// Onward use of received data (rule D6) and the prior authorisation of L5. Pure: the store's facts
// about the origin messages are read by intake before the commit and passed in.
import type { Directory } from '../directory/types.ts'
import type { ConsentUseKind, Message } from '../intake/message.ts'
import { isEuSide, isThirdCountryTransfer } from './legal.ts'
import type { Violation } from './types.ts'

/** One consent recorded for the holder: standing (`consentMessage` null) or a consent reply's decision. */
export interface RecordedConsent {
  use: ConsentUseKind
  /** The agency of an onward transfer; null for the other uses. */
  recipient: string | null
  granted: boolean
  /** The consent reply that decided it; null for a standing condition of the origin message. */
  consentMessage: string | null
}

/** What leix knows of a message named in `origin`, seen from the message's sender (the holder). */
export interface OriginFacts {
  /**
   * True only when the holder was the message's recipient and the message reached it (accepted
   * into its inbox, delivered, or undeliverable by push and so waiting in its inbox). Unknown ids,
   * other pairs' messages, held or rejected ones and the holder's own all read false, alike.
   */
  received: boolean
  /** The message's sender (the provider of its data), when received. */
  provider?: string
  /** Its handling code (S2), when received. */
  handlingCode?: string
  /** Consents recorded for the holder on it, oldest first. */
  consents: readonly RecordedConsent[]
}

/** The store's answer for each origin message id the message names. */
export type OriginLookup = ReadonlyMap<string, OriginFacts>

/** Which consent kinds a standing condition may give for a handling code (S2). */
function standingAllowed (use: ConsentUseKind, handlingCode: string | undefined): boolean {
  // H2: not to be disseminated without the provider's permission — only an explicit reply permits.
  if (use === 'onward-transfer' && handlingCode === 'H2') return false
  // H1: not to be disclosed in judicial proceedings without permission — only an explicit reply.
  if (use === 'evidence' && handlingCode === 'H1') return false
  return true
}

/**
 * Whether the provider consented to `use` (for an onward transfer, to `recipient`): the latest
 * explicit decision counts (a refusal withdraws a standing consent); failing one, a standing
 * condition the handling code admits.
 */
export function hasConsent (facts: OriginFacts, use: ConsentUseKind, recipient: string | null): boolean {
  const matching = facts.consents.filter((c) => c.use === use && (use !== 'onward-transfer' || c.recipient === recipient))
  const explicit = matching.filter((c) => c.consentMessage !== null)
  const latest = explicit[explicit.length - 1]
  if (latest !== undefined) return latest.granted
  return standingAllowed(use, facts.handlingCode) && matching.some((c) => c.consentMessage === null && c.granted)
}

/** Why the consent is missing, in words the sender can act on. */
function missing (facts: OriginFacts, use: ConsentUseKind): string {
  const code = facts.handlingCode ?? 'H0'
  if (!standingAllowed(use, code)) return `${code} data needs an explicit consent reply from ${facts.provider ?? 'its provider'}; a standing condition does not suffice`
  return `ask ${facts.provider ?? 'its provider'} with a consent-request`
}

/**
 * D6 (and L5's prior authorisation): a message that passes on data received from another party —
 * to anyone but that party — names where it came from and has the provider's recorded consent to
 * the onward transfer and to every declared use (`use`: evidence, other purpose). An origin that
 * names a leix message must name one its sender received; otherwise it is refused exactly like a
 * message that does not exist (nothing is revealed about other agencies' messages).
 * Data from another member state leaving the EU needs that state's prior authorisation (LED Art.
 * 35(1)(c)): its consent through leix, or an `authorisation` reference for data that came otherwise.
 */
export function checkOnwardUse (message: Message, lookup: OriginLookup, directory: Directory): Violation[] {
  const origins = message.origin ?? []
  const violations: Violation[] = []
  if (message.use !== undefined && origins.length === 0) {
    violations.push({ rule: 'D6', path: '/use', message: 'use names what passed-on data is used for; the message must name its origin' })
  }
  const holder = message.from.agency
  const recipient = message.to.agency
  const leaving = isThirdCountryTransfer(message, directory)
  const senderCountry = directory.agencies.get(holder)?.country
  /** Another member state (not an EU body, not the sender's own) whose data would leave the EU. */
  const needsAuthorisation = (agency: string): boolean => {
    const country = directory.agencies.get(agency)?.country
    return leaving && country !== undefined && country !== 'EU' && country !== senderCountry && isEuSide(country, directory)
  }
  /** An agency of leix in another country than the sender's. */
  const isOtherParty = (agency: string): boolean => {
    const country = directory.agencies.get(agency)?.country
    return country !== undefined && country !== senderCountry
  }
  origins.forEach((origin, i) => {
    const path = `/origin/${i}`
    if (origin.messageId === undefined) {
      const noReference = origin.authorisation === undefined || origin.authorisation.trim() === ''
      if (needsAuthorisation(origin.agency) && noReference) {
        violations.push({
          rule: 'L5', path: `${path}/authorisation`,
          message: `data from ${origin.agency} leaving the EU for ${recipient} needs its prior authorisation (LED Art. 35(1)(c)): give its reference`,
        })
      } else if (noReference && origin.agency !== recipient && isOtherParty(origin.agency)) {
        // A party of leix in another country is the provider: its consent is checked through the
        // leix message the data came in, or, for data it gave otherwise, named by the reference of
        // its consent. Data of the sender's own country's bodies is national law's to govern.
        violations.push({
          rule: 'D6', path: `${path}/messageId`,
          message: `data from ${origin.agency} passed on to ${recipient} needs ${origin.agency}'s consent: name the leix message it came in (messageId), or the reference of the consent given outside leix (authorisation)`,
        })
      }
      return
    }
    const id = origin.messageId.toLowerCase()
    const facts = lookup.get(id)
    if (facts === undefined || !facts.received) {
      violations.push({ rule: 'D6', path: `${path}/messageId`, message: `origin ${id} names no message ${holder} received through leix` })
      return
    }
    if (facts.provider !== origin.agency) {
      violations.push({ rule: 'D6', path: `${path}/agency`, message: `message ${id} came from ${facts.provider ?? 'another agency'}, not from ${origin.agency}` })
    }
    // Giving data back to its provider is no onward transfer; a use it declares (evidence, another
    // purpose) still needs the provider's consent, whoever the message goes to.
    if (recipient !== facts.provider && !hasConsent(facts, 'onward-transfer', recipient)) {
      violations.push({
        rule: 'D6', path,
        message: `passing on data of message ${id} (from ${facts.provider ?? '?'}, ${facts.handlingCode ?? 'H0'}) to ${recipient} needs its provider's consent: ${missing(facts, 'onward-transfer')}`,
      })
      if (facts.provider !== undefined && needsAuthorisation(facts.provider)) {
        violations.push({
          rule: 'L5', path,
          message: `data of message ${id} from ${facts.provider} leaving the EU for ${recipient} needs ${facts.provider}'s prior authorisation (LED Art. 35(1)(c)), given as its consent`,
        })
      }
    }
    // The provider's restriction travels with its data (S2): passed on to anyone but the provider,
    // H1-H3 data keeps its code, so the next holder needs the same consent again.
    const code = facts.handlingCode ?? 'H0'
    if (recipient !== facts.provider && code !== 'H0' && message.handling.code !== code) {
      violations.push({
        rule: 'D6', path: '/handling/code',
        message: `data of message ${id} is ${code} (from ${facts.provider ?? '?'}); passed on, it keeps ${code}, not ${message.handling.code} (data under different codes travels in separate messages)`,
      })
    }
    for (const use of message.use ?? []) {
      if (!hasConsent(facts, use, null)) {
        violations.push({
          rule: 'D6', path: `/use/${(message.use ?? []).indexOf(use)}`,
          message: `using data of message ${id} (from ${facts.provider ?? '?'}, ${facts.handlingCode ?? 'H0'}) for ${use} needs its provider's consent: ${missing(facts, use)}`,
        })
      }
    }
  })
  return violations
}

/** The origin message ids a message names, lower-cased and unique: what intake looks up. */
export function originMessageIds (message: Message): string[] {
  return [...new Set((message.origin ?? []).flatMap((o) => (o.messageId === undefined ? [] : [o.messageId.toLowerCase()])))]
}
