import { randomUUID } from 'node:crypto'
import type { Queryable } from '../store/db.ts'
import type { RowsInsert, SqlPart } from '../store/statement.ts'

/** Every kind of hop the log records (the closed list the sealer accepts, see event-schema.ts). */
export const AUDIT_EVENT_TYPES = [
  'message.received',
  'message.rejected',
  'message.accepted',
  'message.held',
  'review.decided',
  'delivery.queued',
  'delivery.attempted',
  'delivery.succeeded',
  'delivery.failed',
  'delivery.undeliverable',
  'delivery.redelivery-requested',
  'message.non-delivery',
  'message.acknowledged',
  'message.consulted',
  'exchange.opened',
  'exchange.answered',
  'exchange.refused',
  'exchange.clarification-requested',
  'exchange.clarification-given',
  'exchange.delayed',
  'exchange.corrected',
  'correction.propagated',
  'lineage.read',
  'exchange.accessibility-stated',
  'exchange.overdue',
  'exchange.deadline-warning',
  'exchange.closed',
  'payload.erased',
  'retention.review-due',
  'notification.push-failed',
  'justification.erased',
  'access.denied',
  'audit.queried',
  'audit.exported',
  'audit.alarm',
  'witness.alarm',
  'evidence.exported',
  'supervisor.read',
  'report.generated',
  'intake.rejected-aggregate',
  'directory.changed',
  'broker-key.rotated',
] as const

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number]

/**
 * Why a person read or decided something, as the sealed log keeps it (rule A1, A3): a code
 * from a closed list, an optional case reference, and HMAC-SHA-256(salt, text) of the free text,
 * whose text and salt live in the erasable `justifications` table (justification.ts).
 */
export interface SealedJustification {
  code: string
  caseRef?: string
  /** Row of `justifications` holding the text (until erased). */
  id: string
  /** base64url HMAC-SHA-256 keyed by the per-text salt, over the UTF-8 text. */
  hash: string
}

/** Who acted: an agency system (by key), a person (token subject), or leix itself. */
export interface AuditActor {
  kind: 'agency-system' | 'person' | 'broker' | 'witness'
  agency?: string
  /** Token subject or officer id: an identifier, never a name. */
  id?: string
  roles?: string[]
  /** Signing key id for agency systems. */
  kid?: string
}

/**
 * An audit event as recorded (before sequencing adds `seq` and `prev`). Holds identifiers,
 * digests and metadata only, never personal data (rule A3).
 */
export interface AuditEventInput {
  type: AuditEventType
  actor: AuditActor
  exchangeId?: string
  messageId?: string
  /** Agencies the event concerns; they may see it and get inclusion proofs for it. */
  agencies: string[]
  /** LED Art. 25: the recipients of a disclosure or transfer. */
  recipients?: string[]
  legalBasis?: string
  /** Crime areas of the exchange: the purpose category, without free text. */
  purpose?: string[]
  /** LED Art. 25: why a person consulted, disclosed or decided: a code and a salted hash, never the text (A3). */
  justification?: SealedJustification
  /** base64url SHA-256 of the JWS bytes the event is about. */
  digest?: string
  outcome: 'ok' | 'rejected' | 'failed' | 'denied' | 'held' | 'pending'
  /** Problem code or rule ids: why. */
  reason?: string
  violations?: { rule: string; path: string }[]
  /** Other non-personal details (status codes, attempt numbers, deadlines). */
  details?: Record<string, string | number | boolean | null>
}

export interface AuditEvent extends AuditEventInput {
  id: string
  /** ISO 8601 time of the hop, from the injected clock. */
  at: string
}

/**
 * Records an audit event with the querier it is given — inside the transaction of the change it
 * records, so that the event and the change commit or vanish together. The sealer assigns `seq`.
 */
export async function recordEvent (db: Queryable, input: AuditEventInput, at: Date): Promise<AuditEvent> {
  const [event] = await recordEvents(db, [input], at)
  return event as AuditEvent
}

/** Builds the stored form of an event (id and time assigned, absent fields dropped). */
export function auditEvent (input: AuditEventInput, at: Date): AuditEvent {
  return { id: randomUUID(), at: at.toISOString(), ...stripUndefined(input) }
}

/** The SQL and parameter that insert `events` in one statement (usable inside a larger CTE). */
export function auditInsert (events: AuditEvent[], param: number): string {
  void events
  return insertFromRows(`$${param}`)
}

/** The events as set-based rows (`insertStatement`): the events of many units share one INSERT. */
export function eventRows (events: AuditEvent[]): RowsInsert {
  return { table: 'audit_events', rows: events.map(eventRow), sql: insertFromRows }
}

/** `auditInsert` as a part of a larger statement: the events travel as one JSON parameter. */
export function insertEvents (events: AuditEvent[]): SqlPart {
  return (p) => insertFromRows(p.add(auditRows(events)))
}

function insertFromRows (placeholder: string): string {
  return `INSERT INTO audit_events (id, type, at, exchange_id, message_id, agencies, actor, event)
    SELECT id, type, at, "exchangeId", "messageId", agencies, actor, event
      FROM jsonb_to_recordset(${placeholder}::jsonb) AS r(id uuid, type text, at timestamptz, "exchangeId" uuid, "messageId" uuid, agencies text[], actor text, event jsonb)`
}

/** One JSON parameter for `auditInsert`. */
export function auditRows (events: AuditEvent[]): string {
  return JSON.stringify(events.map(eventRow))
}

function eventRow (e: AuditEvent): object {
  return {
    id: e.id, type: e.type, at: e.at, exchangeId: e.exchangeId ?? null, messageId: e.messageId ?? null, agencies: e.agencies,
    actor: e.actor.id ?? e.actor.agency ?? e.actor.kind, event: e,
  }
}

/** Records several events in one round trip, in order. */
export async function recordEvents (db: Queryable, inputs: AuditEventInput[], at: Date): Promise<AuditEvent[]> {
  const events = inputs.map((input) => auditEvent(input, at))
  if (events.length > 0) await db.query(auditInsert(events, 1), [auditRows(events)])
  return events
}

function stripUndefined<T extends object> (value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}
