// Shared fixtures for the policy tests: a small directory, a fixed receipt time and a valid
// message of every kind. Imported by the other files; fixtures-sanity.test.ts checks them.
import type { Agency, Classification, Directory, LegalInstrument } from '../../src/directory/types.ts'
import type { Message, MessageKind } from '../../src/intake/message.ts'
import { checkPrinciples, DEFAULT_POLICY_LIMITS } from '../../src/policy/index.ts'
import { REFUSAL_GROUNDS } from '../../src/policy/legal.ts'
import type { Hold, PolicyContext, RuleId, Violation } from '../../src/policy/index.ts'

/** Receipt time of every test message. */
export const NOW = new Date('2026-03-02T10:00:00.000Z')

export const EU_MEMBER_STATES = [
  'AT', 'BE', 'BG', 'HR', 'CY', 'CZ', 'DK', 'EE', 'FI', 'FR', 'DE', 'GR', 'HU', 'IE',
  'IT', 'LV', 'LT', 'LU', 'MT', 'NL', 'PL', 'PT', 'RO', 'SK', 'SI', 'ES', 'SE',
]

function agency (id: string, country: string, clearance: Classification, competentAuthority = true): Agency {
  return {
    id,
    name: id,
    country,
    clearance,
    languages: ['en'],
    competentAuthority,
    delivery: { mode: 'pull' },
    jwks: { keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'AAAA', kid: `${id}-1` }] },
  }
}

function instrument (id: string, parties: string[], deadlineProfile: LegalInstrument['deadlineProfile'], maxRetentionDays: number, more: Partial<LegalInstrument> = {}): LegalInstrument {
  return {
    id, title: id, parties, deadlineProfile, maxRetention: { days: maxRetentionDays }, covers: 'any-two-parties', validFrom: '2007-10-10', personalData: true,
    refusalGrounds: [...REFUSAL_GROUNDS], englishAccepted: false, source: { title: id, date: '2006-05-05', publishedIn: 'test fixture' }, ...more,
  }
}

export interface DirectoryOptions {
  riskCountries?: string[]
  /** Extra instruments (L1, L4, P2 tests); unset fields take the fixture defaults. */
  instruments?: Partial<LegalInstrument>[]
  /** Languages per agency id (P2); others list `en`. */
  languages?: Record<string, string[]>
}

export function makeDirectory (options: DirectoryOptions = {}): Directory {
  const agencies = [
    agency('AL-ASP', 'AL', 'EU_CONFIDENTIAL'),
    agency('RS-MUP', 'RS', 'EU_RESTRICTED'),
    agency('AT-BK', 'AT', 'EU_CONFIDENTIAL'),
    agency('DE-BKA', 'DE', 'EU_CONFIDENTIAL'),
    agency('DE-BAFIN', 'DE', 'EU_RESTRICTED', false),
    agency('XK-KP', 'XK', 'BASIC_PROTECTION'),
    agency('EU-EUROPOL', 'EU', 'EU_CONFIDENTIAL'),
  ]
  const instruments = [
    instrument('PCC-SEE', ['AL', 'AT', 'BA', 'BG', 'HU', 'MD', 'ME', 'MK', 'RO', 'RS', 'SI'], 'requester-set', 365),
    instrument('EU-2023/977', EU_MEMBER_STATES, '2023/977', 365),
    instrument('EUROPOL-OA', ['EU', 'AL', 'RS', 'AT', 'DE'], 'requester-set', 730, { covers: { hub: ['EU-EUROPOL'] } }),
    ...(options.instruments ?? []).map((i) => instrument(i.id ?? 'X', i.parties ?? [], i.deadlineProfile ?? 'requester-set', 365, i)),
  ]
  for (const a of agencies) a.languages = options.languages?.[a.id] ?? a.languages
  return {
    agencies: new Map(agencies.map((a) => [a.id, a])),
    instruments: new Map(instruments.map((i) => [i.id, i])),
    keyOwners: new Map(agencies.map((a) => [`${a.id}-1`, a.id])),
    euMemberStates: new Set(EU_MEMBER_STATES),
    riskCountries: new Set(options.riskCountries ?? []),
  }
}

export function makeContext (overrides: Partial<PolicyContext> = {}): PolicyContext {
  return { directory: makeDirectory(), now: NOW, limits: { ...DEFAULT_POLICY_LIMITS }, ...overrides }
}

const at = (msFromNow: number): string => new Date(NOW.getTime() + msFromNow).toISOString()
export const DAY = 86_400_000
export const HOUR = 3_600_000

const REQUEST_ID = '0b0e8f0a-6a3c-4f3e-9d2a-6f6a2b1c0d01'

/** A valid normal request from AL-ASP to RS-MUP under PCC-SEE about one suspect. */
export function request (): Message {
  return {
    id: REQUEST_ID,
    kind: 'request',
    from: { agency: 'AL-ASP', officer: 'al-officer-17' },
    to: { agency: 'RS-MUP' },
    createdAt: at(-10_000),
    language: 'en',
    caseRef: 'AL-2026-0042',
    crimeAreas: ['drug-trafficking', 'organised-crime'],
    legalBasis: { instrument: 'PCC-SEE', article: '5' },
    purpose: {
      statement: 'Identify the owner of a vehicle used in a cocaine shipment',
      offence: 'Drug trafficking (Criminal Code Art. 283)',
      facts: 'Vehicle seen at the Durres port handover on 2026-02-27',
      availabilityGrounds: 'Vehicle registered in Serbia',
      personLink: 'The registered owner is suspected of organising the shipment',
      necessity: 'No other means of identifying the owner',
    },
    urgency: { level: 'normal' },
    handling: { code: 'H0', classification: 'BASIC_PROTECTION' },
    dataSubjects: [{ ref: 'AL-2026-0042-P1', category: 'suspect' }],
    retention: { eraseBy: at(180 * DAY) },
    body: { text: 'Please send the owner of the vehicle with the plate in the attachment.', plates: ['BG-123-AB'] },
  }
}

/** A valid message of `kind`: replies go back from RS-MUP to AL-ASP in reply to `request()`. */
export function messageOf (kind: MessageKind): Message {
  const base = request()
  if (kind === 'request') return base
  const m: Message = {
    ...base,
    id: '0b0e8f0a-6a3c-4f3e-9d2a-6f6a2b1c0d02',
    kind,
    from: { agency: 'RS-MUP', officer: 'rs-officer-3' },
    to: { agency: 'AL-ASP' },
    purpose: { statement: 'Answer to AL-2026-0042' },
    body: { facts: 'The vehicle is registered to person P1.', assessments: 'P1 is likely the organiser.' },
  }
  if (kind !== 'spontaneous') m.inReplyTo = REQUEST_ID
  if (kind === 'response' || kind === 'spontaneous') m.evaluation = { source: 'B', information: '2' }
  if (kind === 'spontaneous') m.purpose = { statement: 'Own-initiative information on a shipment' }
  if (kind === 'refusal') m.refusal = { ground: 'a', reasons: 'No record of the vehicle' }
  if (kind === 'delay-notice') m.delay = { ground: 'judicial-authorisation', expectedBy: at(3 * DAY), reasons: 'Awaiting judicial authorisation' }
  if (kind === 'consent-request') m.consentRequest = { uses: [{ use: 'onward-transfer', to: ['ME-UP'] }, { use: 'evidence' }] }
  if (kind === 'consent') m.consent = { decisions: [{ use: 'onward-transfer', to: ['ME-UP'], granted: true }, { use: 'evidence', granted: false }] }
  return m
}

export const KINDS: readonly MessageKind[] = [
  'request', 'response', 'refusal', 'clarification', 'delay-notice', 'spontaneous', 'correction', 'consent-request', 'consent',
]

/** Findings of one rule from the full principles check, as `{rule, path}` pairs. */
export function findings (message: Message, rule: RuleId, ctx: PolicyContext = makeContext()): { rule: RuleId; path: string }[] {
  const { violations, holds } = checkPrinciples(message, ctx)
  return [...violations, ...holds].filter((f: Violation | Hold) => f.rule === rule).map(({ rule, path }) => ({ rule, path }))
}
