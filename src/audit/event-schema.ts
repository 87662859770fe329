// The audit event schema the sealer enforces on every waiting event before it gives it a seq:
// a known type, the fields each type needs, no free text where the log keeps only codes and
// hashes (A3), and a time not ahead of the sealer's clock. An insert that bypasses recordEvent
// (a made-up event written straight into the table) is refused with an alarm, never sealed.
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { AUDIT_EVENT_TYPES } from './record.ts'
import { JUSTIFICATION_CODES } from './justification.ts'

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020

const agency = { type: 'string', pattern: '^[A-Z]{2}-[A-Z0-9]+$', maxLength: 40 } as const
const uuid = { type: 'string', format: 'uuid' } as const
const id = { type: 'string', minLength: 1, maxLength: 200 } as const

/** Types and the members each must carry beyond the common ones. */
const REQUIRED_BY_TYPE: Record<string, string[]> = {
  'message.accepted': ['messageId', 'exchangeId'],
  'message.held': ['messageId', 'exchangeId'],
  'message.acknowledged': ['messageId'],
  'message.consulted': ['messageId', 'exchangeId', 'justification'],
  'message.non-delivery': ['messageId'],
  'review.decided': ['messageId', 'justification'],
  'delivery.queued': ['messageId'],
  'delivery.attempted': ['messageId'],
  'delivery.succeeded': ['messageId'],
  'delivery.failed': ['messageId'],
  'delivery.undeliverable': ['messageId'],
  'delivery.redelivery-requested': ['messageId'],
  'exchange.opened': ['exchangeId', 'messageId'],
  'exchange.answered': ['exchangeId'],
  'exchange.refused': ['exchangeId'],
  'exchange.clarification-requested': ['exchangeId'],
  'exchange.clarification-given': ['exchangeId'],
  'exchange.delayed': ['exchangeId'],
  'exchange.corrected': ['exchangeId'],
  // Q3: who was told of a correction of a message whose data was passed on (recipients).
  'correction.propagated': ['messageId', 'exchangeId', 'details'],
  // Q3: the provider or a supervisor read which exchanges carried data derived from a message.
  'lineage.read': ['messageId'],
  'exchange.accessibility-stated': ['exchangeId'],
  'exchange.overdue': ['exchangeId'],
  'exchange.deadline-warning': ['exchangeId'],
  'exchange.closed': ['exchangeId'],
  'payload.erased': ['messageId'],
  'retention.review-due': ['messageId'],
  // digest: sha-256 (base64url) of the new directory's RFC 8785 JSON; details: what changed.
  'directory.changed': ['digest', 'details'],
  // details: previousKid and activeKid.
  'broker-key.rotated': ['details'],
  // R1 details: from, to, scope (an agency or `all`), format; never the report's figures.
  'report.generated': ['details'],
}

/** JSON Schema (2020-12) of a recorded, not yet sealed, audit event. */
export const AUDIT_EVENT_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'type', 'at', 'actor', 'agencies', 'outcome'],
  properties: {
    id: uuid,
    type: { enum: [...AUDIT_EVENT_TYPES] },
    at: { type: 'string', format: 'date-time' },
    actor: {
      type: 'object',
      additionalProperties: false,
      required: ['kind'],
      properties: {
        kind: { enum: ['agency-system', 'person', 'broker', 'witness'] },
        agency,
        id,
        kid: id,
        roles: { type: 'array', items: { type: 'string', maxLength: 40 }, maxItems: 20 },
      },
    },
    exchangeId: uuid,
    messageId: uuid,
    agencies: { type: 'array', items: agency, maxItems: 50 },
    recipients: { type: 'array', items: agency, maxItems: 50 },
    legalBasis: { type: 'string', maxLength: 100 },
    purpose: { type: 'array', items: { type: 'string', maxLength: 100 }, maxItems: 50 },
    // A3: never the text; a code, a case reference, the HMAC and the row holding the text.
    justification: {
      type: 'object',
      additionalProperties: false,
      required: ['code', 'id', 'hash'],
      properties: {
        code: { enum: [...JUSTIFICATION_CODES] },
        caseRef: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9/._:-]{0,63}$' },
        id: uuid,
        hash: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' },
      },
    },
    digest: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' },
    outcome: { enum: ['ok', 'rejected', 'failed', 'denied', 'held', 'pending'] },
    reason: { type: 'string', maxLength: 1000 },
    violations: {
      type: 'array',
      maxItems: 200,
      items: { type: 'object', additionalProperties: false, required: ['rule', 'path'], properties: { rule: { type: 'string', maxLength: 20 }, path: { type: 'string', maxLength: 500 } } },
    },
    details: {
      type: 'object',
      maxProperties: 50,
      additionalProperties: { type: ['string', 'number', 'boolean', 'null'], maxLength: 1000 },
    },
  },
  allOf: Object.entries(REQUIRED_BY_TYPE).map(([type, required]) => ({
    if: { properties: { type: { const: type } }, required: ['type'] },
    then: { required },
  })),
} as const

export type EventCheck = (event: unknown, now: Date) => string | undefined

/**
 * A validator: undefined for a valid event, otherwise why not (first error). `maxSkewSeconds`
 * bounds how far ahead of the sealer's clock an event's `at` may lie.
 */
export function auditEventValidator (maxSkewSeconds: number): EventCheck {
  const ajv = new Ajv2020({ allErrors: false, strict: false })
  addFormats(ajv)
  const validate = ajv.compile(AUDIT_EVENT_SCHEMA)
  return (event, now) => {
    if (!validate(event)) {
      const e = validate.errors?.[0]
      return `not a valid audit event: ${e ? `${e.instancePath || '/'} ${e.message ?? 'invalid'}` : 'invalid'}`
    }
    const at = Date.parse((event as { at: string }).at)
    if (at > now.getTime() + maxSkewSeconds * 1000) return `its time ${(event as { at: string }).at} lies ahead of the sealer's clock by more than ${maxSkewSeconds} s`
    return undefined
  }
}
