import { readFileSync } from 'node:fs'
import { Ajv2020 } from 'ajv/dist/2020.js'
import type { ErrorObject } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'

/** The message schema's `$id`. */
export const MESSAGE_SCHEMA_ID = 'https://leix.example/schemas/message.schema.json'

export const MESSAGE_KINDS = [
  'request',
  'response',
  'refusal',
  'clarification',
  'delay-notice',
  'spontaneous',
  'correction',
  'consent-request',
  'consent',
] as const
export type MessageKind = (typeof MESSAGE_KINDS)[number]

/** Threat areas of the 2018 London declaration. */
export const CRIME_AREAS = [
  'organised-crime',
  'violent-extremism',
  'terrorism',
  'terrorism-financing',
  'corruption',
  'money-laundering',
  'financial-crime',
  'trafficking-in-human-beings',
  'migrant-smuggling',
  'firearms-trafficking',
  'drug-trafficking',
  'cybercrime',
] as const
export type CrimeArea = (typeof CRIME_AREAS)[number]

export type UrgencyGround = 'public-security-threat' | 'threat-to-life' | 'restrictive-measures' | 'loss-of-relevance'
export type TransferBasis = 'adequacy' | 'safeguards' | 'derogation'
type Digit = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9'
/** Schema allows `H0`-`H9`; rule S2 accepts only `H0`-`H3`. */
export type HandlingCodeText = `H${Digit}`
export type DataSubjectCategory = 'suspect' | 'convicted' | 'victim' | 'witness' | 'informant' | 'contact'
export type SpecialCategory =
  | 'racial-or-ethnic-origin'
  | 'political-opinions'
  | 'religious-or-philosophical-beliefs'
  | 'trade-union-membership'
  | 'genetic'
  | 'biometric'
  | 'health'
  | 'sex-life-or-orientation'
export type SpecialBasis = 'law' | 'vital-interests' | 'made-public'
export type Accessibility = 'direct' | 'indirect'
/** D6: what received data may be used for beyond the provider's purpose, with its consent. */
export type ConsentUseKind = 'onward-transfer' | 'evidence' | 'other-purpose'
/** D6: one use asked for or decided; `to` names the agencies of an onward transfer. */
export interface ConsentUse {
  use: ConsentUseKind
  to?: string[]
  purpose?: string
}
/** D6: where passed-on data came from; `messageId` when it came through leix. */
export interface Origin {
  agency: string
  messageId?: string
  /** L5: reference of a member state's prior authorisation given outside leix. */
  authorisation?: string
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

/** A person in a message (D1-D5), by pseudonymous reference only. */
export interface DataSubject {
  /** Pseudonymous reference, never a name: `^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`. */
  ref: string
  category: DataSubjectCategory
  minor?: boolean
  /** `YYYY-MM-DD`, or `YYYY` when only the year is known (D3: under 18 at receipt is a minor). */
  dateOfBirth?: string
  specialCategories?: SpecialCategory[]
  specialJustification?: string
  specialBasis?: SpecialBasis
  protectionStatus?: 'asylum-seeker' | 'refugee'
  /** Country code of the country fled (D4). */
  countryOfFlight?: string
}

/** The substance. `facts` and `assessments` keep Q2's separation; other safe JSON is allowed. */
export interface MessageBody {
  text?: string
  facts?: string
  assessments?: string
  [key: string]: JsonValue | undefined
}

/** A message as `schemas/message.schema.json` accepts it. Dates are RFC 3339 strings. */
export interface Message {
  /** UUID chosen by the sender; idempotency and replay key. */
  id: string
  kind: MessageKind
  from: { agency: string; officer: string }
  to: { agency: string }
  createdAt: string
  /** P2: the message's language, a BCP 47 tag (well-formedness is checked by P2). */
  language: string
  caseRef: string
  /** Non-empty, unique. */
  crimeAreas: CrimeArea[]
  legalBasis: {
    instrument: string
    article?: string
    transfer?: { basis: TransferBasis; reference: string }
  }
  purpose: {
    statement: string
    offence?: string
    facts?: string
    availabilityGrounds?: string
    personLink?: string
    necessity?: string
  }
  urgency: { level: 'urgent' | 'normal'; grounds?: UrgencyGround[]; reasons?: string }
  /** `classification` is any `^[A-Z_]{2,32}$` here; rule S3 accepts only the three of CLASSIFICATIONS. */
  handling: {
    code: HandlingCodeText
    restrictions?: string
    classification: string
    /** D6: the provider's standing consent (ignored for onward transfer of H2 data and evidential use of H1 data). */
    consent?: { onwardTo?: string[]; evidence?: boolean; otherPurpose?: boolean }
  }
  evaluation?: { source: 'A' | 'B' | 'C' | 'X'; information: '1' | '2' | '3' | '4' }
  dataSubjects: DataSubject[]
  /** At least one of the two. */
  retention: { eraseBy?: string; reviewBy?: string }
  /** Required for response, refusal, clarification, delay-notice, correction; absent otherwise. */
  inReplyTo?: string
  /** Present if and only if kind is `refusal`. `ground` is one lower-case letter; L4 accepts a-h. */
  refusal?: { ground: string; reasons: string }
  /** Present if and only if kind is `delay-notice`. */
  delay?: { ground: string; expectedBy: string; reasons: string }
  /** T2: on a request under an instrument without time limits, when the requester needs the answer. */
  answerBy?: string
  /** The requested party's statement (T2). */
  accessibility?: { level: Accessibility; reason: string }
  /** D6: where the data this message passes on came from. */
  origin?: Origin[]
  /** D6: uses of the origin data beyond the provider's purpose. */
  use?: ('evidence' | 'other-purpose')[]
  /** Present if and only if kind is `consent-request` (D6). */
  consentRequest?: { uses: ConsentUse[] }
  /** Present if and only if kind is `consent` (D6). */
  consent?: { decisions: (ConsentUse & { granted: boolean; conditions?: string })[] }
  body: MessageBody
}

/** One schema failure, located by a JSON pointer into the message. */
export interface MessageSchemaError {
  path: string
  message: string
}

export type MessageValidation = { ok: true; message: Message } | { ok: false; errors: MessageSchemaError[] }

export type MessageValidator = (value: unknown) => MessageValidation

/** Reads and parses `schemas/message.schema.json` (relative to this file, so it works from src/ and dist/). */
export function loadMessageSchema (): Record<string, unknown> {
  const url = new URL('../../schemas/message.schema.json', import.meta.url)
  return JSON.parse(readFileSync(url, 'utf8')) as Record<string, unknown>
}

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ??
  addFormatsModule) as unknown as (ajv: Ajv2020) => Ajv2020

/**
 * Compiles the message schema once; call at start-up and reuse the returned function.
 * Collects every error (`allErrors`), never coerces, removes or defaults anything.
 */
export function compileMessageValidator (): MessageValidator {
  const ajv = new Ajv2020({
    allErrors: true,
    strict: true,
    allowUnionTypes: true,
    removeAdditional: false,
    useDefaults: false,
    coerceTypes: false,
  })
  addFormats(ajv)
  const validate = ajv.compile<Message>(loadMessageSchema())
  return (value) => {
    if (validate(value)) return { ok: true, message: value }
    return { ok: false, errors: (validate.errors ?? []).filter(isInformative).map(toSchemaError) }
  }
}

/**
 * Drops Ajv's summary errors that repeat a more precise one: the `if` wrapper of a failed
 * then/else, and the inner errors of a `propertyNames` failure (the outer one names the key).
 */
function isInformative (e: ErrorObject): boolean {
  if (e.keyword === 'if') return false
  if (e.propertyName !== undefined && e.keyword !== 'propertyNames') return false
  return true
}

function escapePointer (token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1')
}

/** Points at the offending property itself for required / additional / forbidden properties. */
function toSchemaError (e: ErrorObject): MessageSchemaError {
  const params = e.params as Record<string, unknown>
  if (e.keyword === 'required' && typeof params.missingProperty === 'string') {
    return { path: `${e.instancePath}/${escapePointer(params.missingProperty)}`, message: 'is required' }
  }
  if (e.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') {
    return { path: `${e.instancePath}/${escapePointer(params.additionalProperty)}`, message: 'is not allowed' }
  }
  if (e.keyword === 'propertyNames' && typeof params.propertyName === 'string') {
    return { path: `${e.instancePath}/${escapePointer(params.propertyName)}`, message: 'property name is not allowed' }
  }
  if (e.keyword === 'false schema') {
    return { path: e.instancePath, message: 'is not allowed for this kind of message' }
  }
  return { path: e.instancePath, message: e.message ?? e.keyword }
}
