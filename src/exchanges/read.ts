import { checkedEvent, type SealedRow } from '../audit/integrity.ts'
import { exchangeEvents } from '../audit/query.ts'
import { attemptsOfExchange, messagesOfExchange } from '../delivery/messages-repository.ts'
import { encodeCursor } from '../store/cursor.ts'
import type { Queryable } from '../store/db.ts'
import { pageExchanges, type ExchangeDbRow } from './exchanges-repository.ts'
import { AWAITING_ANSWER, type ExchangeStatus } from './state.ts'

export { findExchange } from './exchanges-repository.ts'

/** Status tracking read models. Metadata only: no message bodies. */

export interface ExchangeSummary {
  id: string
  requester: string
  responder: string
  direction: 'outgoing' | 'incoming'
  kind: 'request' | 'spontaneous'
  caseRef: string
  crimeAreas: string[]
  legalBasis: string
  urgency: 'urgent' | 'normal'
  classification: string
  status: ExchangeStatus
  openedAt: string
  deadline: string | null
  deadlineBasis: string | null
  /** Seconds until the deadline (negative once passed); null without a deadline or once answered. */
  timeLeftSeconds: number | null
  overdue: boolean
  answeredAt: string | null
  updatedAt: string
}

export interface TimelineEntry {
  at: string
  event: string
  seq: number | null
  messageId?: string
  actor?: string
  outcome: string
  reason?: string
  details?: Record<string, unknown>
}

export interface MessageMeta {
  id: string
  kind: string
  from: string
  to: string
  officer: string
  inReplyTo: string | null
  createdAt: string
  receivedAt: string
  status: string
  classification: string
  handlingCode: string
  digest: string
  attempts: number
  deliveredAt: string | null
  acknowledgedAt: string | null
  /** Set when the message was not delivered within the configured time (T5). */
  nonDeliveryAt: string | null
  erased: boolean
  /** D7: when the payload is (or was) erased: the sender's erase-by date, else the instrument's cap. */
  eraseBy: string | null
  /** Every push attempt and inbox fetch, oldest first. */
  deliveries: DeliveryAttempt[]
}

export interface DeliveryAttempt {
  attempt: number
  startedAt: string
  endedAt: string | null
  /** `delivered`, `failed`, `interrupted` (the worker stopped), `fetched` (inbox), or null while in flight. */
  outcome: string | null
  httpStatus: number | null
  error: string | null
}

function summarise (row: ExchangeDbRow, agency: string, now: Date): ExchangeSummary {
  const open = AWAITING_ANSWER.has(row.status)
  const timeLeft = row.deadline && open ? Math.round((row.deadline.getTime() - now.getTime()) / 1000) : null
  return {
    id: row.id,
    requester: row.requester,
    responder: row.responder,
    direction: row.requester === agency ? 'outgoing' : 'incoming',
    kind: row.kind,
    caseRef: row.case_ref,
    crimeAreas: row.crime_areas,
    legalBasis: row.legal_basis,
    urgency: row.urgency,
    classification: row.classification,
    status: row.status,
    openedAt: row.opened_at.toISOString(),
    deadline: row.deadline?.toISOString() ?? null,
    deadlineBasis: row.deadline_basis,
    timeLeftSeconds: timeLeft,
    overdue: row.overdue_at !== null || (timeLeft !== null && timeLeft < 0),
    answeredAt: row.answered_at?.toISOString() ?? null,
    updatedAt: row.updated_at.toISOString(),
  }
}

/** Message statuses that do not exist for their recipient: held for review (D3-D5), or rejected by it. */
export const HIDDEN_FROM_RECIPIENT = ['held', 'rejected'] as const

/** The agencies entitled to know of a message: its sender, and its recipient unless it is hidden from it (held, or rejected by review). */
export function messageViewers (m: { sender: string; recipient: string; status: string }): string[] {
  return (HIDDEN_FROM_RECIPIENT as readonly string[]).includes(m.status) ? [m.sender] : [m.sender, m.recipient]
}

/** The agencies entitled to see an exchange: its requester, and its responder once the opening message is released. */
export function exchangeViewers (row: { requester: string; responder: string; visible_to_responder: boolean }): string[] {
  return row.visible_to_responder ? [row.requester, row.responder] : [row.requester]
}

/**
 * The exchange as `agency` sees it: the recipient does not see messages held for review or
 * rejected by it, and each party sees only the events that list it. `supervisor` sees every
 * message and event. Whether `agency` may see the exchange at all is the caller's check
 * (`exchangeViewers`); this function does not make it.
 */
export async function exchangeDetail (db: Queryable, row: ExchangeDbRow, agency: string, now: Date, o: { supervisor?: boolean } = {}): Promise<ExchangeSummary & { messages: MessageMeta[]; timeline: TimelineEntry[] }> {
  const messages = await messagesOfExchange(db, row.id, agency, o.supervisor === true)
  const attempts = await attemptsOfExchange(db, row.id, agency, o.supervisor === true)
  const deliveriesOf = new Map<string, DeliveryAttempt[]>()
  for (const d of attempts) {
    const list = deliveriesOf.get(d.message_id) ?? []
    list.push({ attempt: d.attempt, startedAt: d.started_at.toISOString(), endedAt: d.ended_at?.toISOString() ?? null, outcome: d.outcome, httpStatus: d.http_status, error: d.error })
    deliveriesOf.set(d.message_id, list)
  }
  // Consultations are hops too (rule A1): both parties see when, and by which agency, a
  // message body was read. Denied attempts by others and auditors' own work stay in the audit API.
  // Each party sees the events that name it (a review the sender's DPO rejected is the sender's).
  // What is shown is what is hashed: a sealed event is selected by its canonical line (an
  // expression index, migration 020) and its entry built from that line, re-hashed against its
  // leaf first (an integrity error otherwise); only events not yet sealed (seconds old) come
  // from the copy the sealer will hash. Who sees an entry is decided on the line's agencies.
  const { sealed, waiting } = await exchangeEvents(db, row.id)
  const events = [
    ...sealed.map((e) => ({ seq: e.seq as number | null, ev: checkedEvent(e as SealedRow) })),
    ...waiting.map((e) => ({ seq: null as number | null, ev: e.event })),
  ].sort((x, y) => Date.parse(String(x.ev.at)) - Date.parse(String(y.ev.at))) // stable: seq order, then waiting ones
  // Reads of the log or of a message's lineage (Q3) are not hops of the exchange.
  const hidden = new Set(['access.denied', 'audit.queried', 'audit.exported', 'audit.alarm', 'supervisor.read', 'intake.rejected-aggregate', 'lineage.read'])
  const timeline: TimelineEntry[] = []
  for (const { seq, ev } of events) {
    const agencies = Array.isArray(ev.agencies) ? ev.agencies as string[] : []
    if ((o.supervisor !== true && !agencies.includes(agency)) || hidden.has(String(ev.type))) continue
    const actor = ev.actor as { agency?: string; kind?: string } | undefined
    timeline.push({
      at: new Date(String(ev.at)).toISOString(),
      event: String(ev.type),
      seq,
      ...(typeof ev.messageId === 'string' ? { messageId: ev.messageId } : {}),
      ...(actor ? { actor: actor.agency ?? actor.kind ?? 'unknown' } : {}),
      outcome: String(ev.outcome ?? ''),
      ...(ev.reason ? { reason: String(ev.reason) } : {}),
      ...(ev.details ? { details: ev.details as Record<string, unknown> } : {}),
    })
  }
  return {
    ...summarise(row, agency, now),
    messages: messages.map((m) => ({
      id: m.id, kind: m.kind, from: m.sender, to: m.recipient, officer: m.officer, inReplyTo: m.in_reply_to,
      createdAt: m.created_at.toISOString(), receivedAt: m.received_at.toISOString(), status: m.status,
      classification: m.classification, handlingCode: m.handling_code, digest: m.digest, attempts: m.attempts,
      deliveredAt: m.delivered_at?.toISOString() ?? null, acknowledgedAt: m.acknowledged_at?.toISOString() ?? null,
      nonDeliveryAt: m.non_delivery_at?.toISOString() ?? null, erased: m.erased_at !== null, eraseBy: m.erase_by?.toISOString() ?? null, deliveries: deliveriesOf.get(m.id) ?? [],
    })),
    timeline,
  }
}

export interface ExchangeFilters {
  direction?: 'incoming' | 'outgoing'
  status?: ExchangeStatus
  overdue?: boolean
  crimeArea?: string
  /** opened at or after, ISO 8601 */
  from?: string
  /** opened before, ISO 8601 */
  to?: string
  /** page size, 1..200 @defaultValue 50 */
  limit?: number
  /** opaque cursor from the previous page */
  cursor?: string
}

/** The agency's exchanges, newest first, keyset-paged. */
export async function listExchanges (db: Queryable, agency: string, f: ExchangeFilters, now: Date): Promise<{ items: ExchangeSummary[]; nextCursor: string | null }> {
  const limit = Math.min(Math.max(f.limit ?? 50, 1), 200)
  const rows = await pageExchanges(db, agency, {
    direction: f.direction, status: f.status, crimeArea: f.crimeArea, from: f.from, to: f.to, cursor: f.cursor,
    overdue: f.overdue === undefined ? undefined : { overdue: f.overdue, now, awaiting: [...AWAITING_ANSWER] },
  }, limit + 1)
  const page = rows.slice(0, limit)
  const last = page[page.length - 1]
  const nextCursor = rows.length > limit && last ? encodeCursor(last.opened_at, last.id) : null
  return { items: page.map((r) => summarise(r, agency, now)), nextCursor }
}
