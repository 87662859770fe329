import { randomUUID } from 'node:crypto'
import type { Directory, LegalInstrument } from '../directory/types.ts'
import { coverageGap, inForce, isEuSide } from '../policy/legal.ts'
import { acceptedOpeningLanguages } from '../policy/language.ts'
import { addCalendarPeriod } from '../policy/data-protection.ts'
import { MESSAGE_KINDS, type MessageKind } from '../intake/message.ts'

const DAY_MS = 86_400_000

/** Kinds that answer an earlier message and so carry `inReplyTo`. */
export const REPLY_KINDS = ['response', 'refusal', 'clarification', 'delay-notice', 'correction', 'consent-request', 'consent'] as const satisfies readonly MessageKind[]
/** Every kind `leix example` can write: the openings and the replies. */
export const EXAMPLE_KINDS = MESSAGE_KINDS

export interface ExampleOptions {
  from: string
  to: string
  kind: MessageKind
  officer: string
  now?: Date
  /** Legal instrument to cite; `PCC-SEE` (with a five-year cap) when absent. No data subjects when it allows no personal data (L1). */
  instrument?: Pick<LegalInstrument, 'id' | 'maxRetention'> & { personalData?: boolean }
  /** BCP 47 tag of the message's language (P2). @defaultValue 'en' */
  language?: string
  /** From the EU side to a third country: name a transfer basis (rule L5). */
  thirdCountryTransfer?: boolean
  /** The message answered; required for the reply kinds. */
  inReplyTo?: string
}

/**
 * A valid example message for the walkthrough and tests. Fills what the rules ask of its kind:
 * purpose fields for a request (L2), an evaluation where information travels (Q1), a ground and
 * reasons for a refusal (L4), an expected time for a delay notice (T3), a transfer basis between the
 * EU side and a third country (L5), an erase-by date inside the instrument's cap (D7).
 */
export function exampleMessage (o: ExampleOptions): Record<string, unknown> {
  const now = o.now ?? new Date()
  const instrument = o.instrument ?? { id: 'PCC-SEE', maxRetention: { years: 5 } }
  // A year, or a day short of the cap when the instrument allows less.
  const cap = addCalendarPeriod(now, instrument.maxRetention).getTime() - DAY_MS
  const eraseBy = new Date(Math.min(now.getTime() + 365 * DAY_MS, cap)).toISOString()
  const legalBasis: Record<string, unknown> = { instrument: instrument.id, article: instrument.id === 'PCC-SEE' ? 'Art. 5' : undefined }
  if (legalBasis.article === undefined) delete legalBasis.article
  if (o.thirdCountryTransfer) {
    legalBasis.transfer = { basis: 'safeguards', reference: `${instrument.id}: appropriate safeguards of the instrument (LED Art. 37(1)(a))` }
  }
  const base: Record<string, unknown> = {
    id: randomUUID(),
    kind: o.kind,
    from: { agency: o.from, officer: o.officer },
    to: { agency: o.to },
    createdAt: now.toISOString(),
    language: o.language ?? 'en',
    caseRef: 'CASE-2026-0815',
    crimeAreas: ['drug-trafficking', 'organised-crime'],
    legalBasis,
    urgency: { level: 'normal' },
    handling: { code: 'H2', classification: 'BASIC_PROTECTION' },
    dataSubjects: instrument.personalData === false ? [] : [{ ref: 'SUBJ-7F3A', category: 'suspect' }],
    retention: { eraseBy },
    body: { text: 'Request for vehicle registration and border-crossing records for the subject.' },
  }
  if ((REPLY_KINDS as readonly string[]).includes(o.kind)) {
    if (!o.inReplyTo) throw new Error(`a ${o.kind} answers a message: give the id of the message it replies to`)
    base.inReplyTo = o.inReplyTo
    base.purpose = { statement: 'Reply in the exchange opened by the request named in inReplyTo.' }
  }
  switch (o.kind) {
    case 'request':
      return {
        ...base,
        purpose: {
          statement: 'Identify the vehicles used by a suspected trafficking network.',
          offence: 'Unauthorised production and trafficking of narcotic drugs (Criminal Code Art. 283)',
          facts: 'Seizure of 40 kg of cannabis on 12 November; the driver named the subject as organiser.',
          availabilityGrounds: 'The subject is a resident of the requested country and holds a vehicle registered there.',
          ...(instrument.personalData === false ? {} : { personLink: 'The subject is the suspected organiser of the shipment.' }),
          necessity: 'Needed to identify further vehicles before the next shipment; no less intrusive source is available.',
        },
      }
    case 'spontaneous':
      return {
        ...base,
        purpose: { statement: 'Own-initiative information on a shipment of cocaine expected at the port of Bar.' },
        evaluation: { source: 'B', information: '2' },
        body: { facts: 'A container registered to a front company is due on 3 December.', assessments: 'Likely linked to the network under investigation.' },
      }
    case 'response':
      return {
        ...base,
        evaluation: { source: 'A', information: '1' },
        body: { facts: 'Two vehicles are registered to the subject: a grey van and a black saloon.', assessments: 'The van matches the description given by the driver.' },
      }
    case 'refusal':
      return { ...base, refusal: { ground: 'a', reasons: 'The requested records are not available to the requested authority.' }, body: { text: 'Refused: information not available.' } }
    case 'clarification':
      return { ...base, body: { text: 'Please give the subject\'s date of birth so that the records can be matched.' } }
    case 'delay-notice':
      return {
        ...base,
        delay: { ground: 'judicial-authorisation', expectedBy: new Date(now.getTime() + 5 * DAY_MS).toISOString(), reasons: 'The records may be released only with the authorisation of the investigating judge, requested today.' },
        body: { text: 'Answer delayed pending judicial authorisation.' },
      }
    case 'correction':
      return { ...base, body: { text: 'Correction: the second vehicle\'s registration number was given wrongly; the correct one follows.' } }
    case 'consent-request':
      // D6: asks the provider of the message in inReplyTo to consent to its use as evidence.
      return { ...base, dataSubjects: [], consentRequest: { uses: [{ use: 'evidence' }] }, body: { text: 'We ask your consent to use the information in the trial of the subject.' } }
    case 'consent':
      return { ...base, dataSubjects: [], consent: { decisions: [{ use: 'evidence', granted: true }] }, body: { text: 'Consent given for use as evidence.' } }
  }
}

/** Why no example can be written for a pair. */
export class NoExampleError extends Error {
  override readonly name = 'NoExampleError'
}

/**
 * The instrument two agencies may exchange under: the first in the directory, in force at `now`,
 * that covers the pair (rule L1: both countries parties, the hub at one end, the contact points).
 * The same for both directions, so a reply cites what its request cited. Throws NoExampleError
 * naming what is missing.
 */
export function instrumentFor (directory: Directory, from: string, to: string, now: Date = new Date()): LegalInstrument {
  const sender = directory.agencies.get(from)
  const recipient = directory.agencies.get(to)
  if (!sender) throw new NoExampleError(`${from} is not an agency in the directory`)
  if (!recipient) throw new NoExampleError(`${to} is not an agency in the directory`)
  if (from === to) throw new NoExampleError(`${from} cannot send a message to itself: an exchange has two agencies`)
  for (const instrument of directory.instruments.values()) {
    if (inForce(instrument, now) && coverageGap(instrument, sender, recipient) === undefined) return instrument
  }
  throw new NoExampleError(`no legal instrument in the directory in force covers ${sender.country} (${from}) and ${recipient.country} (${to}), ` +
    'so these agencies cannot exchange through leix (rule L1); add the instrument they share to the directory first')
}

/** An example message that the directory's rules accept for this pair and kind. */
export function exampleFor (directory: Directory, o: Omit<ExampleOptions, 'instrument' | 'thirdCountryTransfer' | 'language'>): Record<string, unknown> {
  const instrument = instrumentFor(directory, o.from, o.to, o.now)
  const ends = [o.from, o.to].map((id) => isEuSide(directory.agencies.get(id)?.country ?? '', directory))
  // L5: only data leaving the EU side for a third country needs a transfer basis.
  const thirdCountryTransfer = ends[0] === true && ends[1] === false
  // P2: English where the recipient or the instrument accepts it, else the recipient's first language.
  const accepted = acceptedOpeningLanguages({ to: { agency: o.to }, legalBasis: { instrument: instrument.id } }, directory) ?? ['en']
  const language = accepted.includes('en') ? 'en' : accepted[0]
  return exampleMessage({ ...o, instrument, thirdCountryTransfer, ...(language ? { language } : {}) })
}
