import type { JWK } from 'jose'

/** Security classifications that may travel through leix, lowest first (rule S3). */
export const CLASSIFICATIONS = ['BASIC_PROTECTION', 'EU_RESTRICTED', 'EU_CONFIDENTIAL'] as const
export type Classification = (typeof CLASSIFICATIONS)[number]

/** How an agency receives messages. */
export interface DeliverySettings {
  /** `push`: POST to `webhook`; `pull`: the agency polls `GET /v1/inbox`. */
  mode: 'push' | 'pull'
  /** HTTPS URL of the agency's webhook (push only). */
  webhook?: string
  /** Maximum delivery attempts before the message is undeliverable. @defaultValue config */
  maxAttempts?: number
  /** Maximum time in seconds from acceptance before the message is undeliverable. @defaultValue config */
  maxElapsedSeconds?: number
}

/** A party's agency in the trust registry. */
export interface Agency {
  /** `CC-NAME`, for example `AL-ASP`, `RS-MUP`, `EU-EUROPOL`. */
  id: string
  name: string
  /**
   * ISO 3166-1 alpha-2, or `EU` for EU bodies, or `XK` for Kosovo*: `XK` is a user-assigned code
   * (ISO 3166-1 reserves XA-XZ for users), not an ISO 3166-1 country code.
   */
  country: string
  /** Highest classification the agency may receive (S3). */
  clearance: Classification
  /** BCP 47 language tags the agency works in. */
  languages: string[]
  /** Whether the agency is a competent authority for law enforcement (L5). @defaultValue true */
  competentAuthority: boolean
  delivery: DeliverySettings
  /** The agency's public signing keys; every key has a `kid` unique across the directory. */
  jwks: { keys: JWK[] }
  /**
   * Subject common names of client certificates (issued by LEIX_TLS_CLIENT_CA) that speak for this
   * agency: a request over such a connection may only act as this agency (S4).
   */
  tlsClientSubjects?: string[]
  /** IANA time zone of the agency: calendar-day deadlines it must meet end at its wall-clock time (T2). @defaultValue UTC */
  timeZone?: string
  /**
   * D4: country codes this agency may pass data to beyond what its instruments show (for example
   * under a bilateral agreement not in the directory); a refugee who fled one of them is held.
   */
  mayPassTo?: string[]
}

/** A legal instrument under which information may be exchanged (rule L1). */
export interface LegalInstrument {
  /** Registry id, for example `PCC-SEE`, `EU-2023/977`. */
  id: string
  title: string
  /** Country codes (or `EU` for EU bodies) of the parties. Both ends of an exchange must be parties. */
  parties: string[]
  /**
   * Deadline profile (T2): `2023/977` (8 h / 3 calendar days / 7 calendar days, Art. 5(1)), or
   * `requester-set` for instruments without time limits (the request's `answerBy`, else
   * `defaultDeadlineDays`, else none).
   */
  deadlineProfile: '2023/977' | 'requester-set'
  /** `requester-set`: calendar days from receipt when the request names no `answerBy`. */
  defaultDeadlineDays?: number
  /**
   * T3: grounds for a delay this instrument adds to `judicial-authorisation` (or a different
   * allowance for it), each with the longest extension in calendar days past the deadline.
   */
  delayGrounds?: Array<{ ground: string; maxExtensionDays: number }>
  /**
   * D3-D5: the agency whose DPO decides on messages held under this instrument (releases them; the
   * sender's DPO may still reject its own). @defaultValue the directory's `hubReviewBody`, else the sender's DPO
   */
  reviewBody?: string
  /** Longest retention from receipt the instrument allows, in the law's units (D7). */
  maxRetention: RetentionPeriod
  /**
   * L1: which pairs of agencies the instrument covers. `any-two-parties`: any two agencies of its
   * parties (PCC-SEE, 2023/977, bilateral agreements). `{hub}`: every message has one of the hub
   * agencies at exactly one end (Europol ↔ a member state or partner, never partner ↔ partner).
   * @defaultValue 'any-two-parties'
   */
  covers: InstrumentCoverage
  /**
   * L1: per country, the only agencies that may exchange under the instrument (a party's single
   * contact point, for example BiH's Ministry of Security for Europol). Other countries: any agency.
   */
  contactPoints?: Record<string, string[]>
  /** L1: first day the instrument applies (`YYYY-MM-DD`, UTC). */
  validFrom: string
  /** L1: last day the instrument applies (`YYYY-MM-DD`, UTC, inclusive); none: open-ended. */
  validUntil?: string
  /** L1: what a party excludes from the instrument (crime areas or kinds of message). */
  reservations?: InstrumentReservation[]
  /** L1: whether personal data (data subjects) may be exchanged at all. @defaultValue true */
  personalData: boolean
  /** L4: the refusal grounds the instrument allows. @defaultValue 2023/977 Art. 6(1) (a)-(h) */
  refusalGrounds: string[]
  /** P2: a request in English is accepted whatever the recipient lists. @defaultValue false */
  englishAccepted: boolean
  /** Where the instrument's text is published. */
  source: InstrumentSource
  /** Free text for the reader of the directory (a reading, an unconfirmed date). */
  note?: string
}

/** A duration in calendar units, added years and months first, then days (D7). */
export interface RetentionPeriod {
  years?: number
  months?: number
  days?: number
}

/** L1: the pairs an instrument covers (see `LegalInstrument.covers`). */
export type InstrumentCoverage = 'any-two-parties' | { hub: string[] }

/** L1: a party's reservation: it does not apply the instrument to these crime areas or kinds. */
export interface InstrumentReservation {
  /** Country code of the reserving party. */
  party: string
  crimeAreas?: string[]
  kinds?: string[]
  note: string
  /** Where the reservation is published. */
  source: string
}

/** Where an instrument is published: its title, date (signature or adoption) and publication. */
export interface InstrumentSource {
  title: string
  /** `YYYY-MM-DD`. */
  date: string
  /** Official Journal reference, treaty series, or the publishing body's site. */
  publishedIn: string
}

/** The trust registry, loaded from `LEIX_DIRECTORY` and validated by `schemas/directory.schema.json`. */
export interface Directory {
  agencies: ReadonlyMap<string, Agency>
  instruments: ReadonlyMap<string, LegalInstrument>
  /** kid -> agency id, for every agency key. */
  keyOwners: ReadonlyMap<string, string>
  /** EU member state country codes (L5: transfers between these and others need a transfer basis). */
  euMemberStates: ReadonlySet<string>
  /** D3-D5: the agency whose DPO reviews holds under instruments that name no `reviewBody` of their own. */
  hubReviewBody?: string
  /** Country codes marked as a human-rights risk (D5). */
  riskCountries: ReadonlySet<string>
  /** Client-certificate subject CN -> agency id (mutual TLS, S4). */
  certificateOwners?: ReadonlyMap<string, string>
}

/** Is `have` at or above `need`? */
export function clearanceCovers (have: Classification, need: Classification): boolean {
  return CLASSIFICATIONS.indexOf(have) >= CLASSIFICATIONS.indexOf(need)
}
