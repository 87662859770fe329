import { recordEvent, type AuditActor, type AuditEventInput, type AuditEventType } from '../audit/record.ts'
import type { Params } from '../store/params.ts'
import type { LegalInstrument } from '../directory/types.ts'
import { DomainError } from '../errors.ts'
import type { Message } from '../intake/message.ts'
import { recomputeDeadline } from '../policy/index.ts'
import { withTransaction, type Client, type Pool } from '../store/db.ts'
import { transition, type ExchangeEvent, type ExchangeStatus } from './state.ts'
import { randomUUID } from 'node:crypto'

/** What opening an exchange stores: the exchange row and its `exchange.opened` event. */
export interface Opening {
  exchangeId: string
  deadline: Date | null
  /** INSERT for the exchange row, with placeholders from `p`. */
  sql(p: Params): string
  event: AuditEventInput
}

/** Prepares the exchange a request or own-initiative message opens (stored by the caller). */
export function openExchange(o: { message: Message; status: 'accepted' | 'held'; deadline: Date | null; receivedAt: Date }): Opening {
  const { message } = o
  if (message.kind !== 'request' && message.kind !== 'spontaneous') {
    throw new DomainError('schema-violation', `a ${message.kind} needs inReplyTo`)
  }
  const id = randomUUID()
  return {
    exchangeId: id,
    deadline: o.deadline,
    sql: (p) => `INSERT INTO exchanges (id, requester, responder, opened_by, kind, case_ref, crime_areas, legal_basis, urgency, classification,
       status, opened_at, deadline, deadline_basis, updated_at) VALUES ${p.row([
      id, message.from.agency, message.to.agency, message.id, message.kind, message.caseRef, message.crimeAreas,
      message.legalBasis.instrument, message.urgency.level, message.handling.classification, o.status, o.receivedAt,
      o.deadline, o.deadline ? (message.urgency.level === 'urgent' ? 'urgent-direct' : 'normal') : null, o.receivedAt,
    ])}`,
    event: {
      type: 'exchange.opened', actor: { kind: 'agency-system', agency: message.from.agency, id: message.from.officer },
      exchangeId: id, messageId: message.id, agencies: [message.from.agency, message.to.agency], legalBasis: message.legalBasis.instrument,
      purpose: message.crimeAreas, outcome: 'ok', details: { kind: message.kind, urgency: message.urgency.level, deadline: o.deadline?.toISOString() ?? null },
    },
  }
}

export interface ExchangeRow {
  id: string
  requester: string
  responder: string
  opened_by: string
  kind: 'request' | 'spontaneous'
  urgency: 'urgent' | 'normal'
  status: ExchangeStatus
  opened_at: Date
  deadline: Date | null
  paused_at: Date | null
  legal_basis: string
  /** What the requested party stated (T2), if anything. */
  accessibility: 'direct' | 'indirect' | null
}

/** Locks and returns an exchange row for a state change. */
export async function lockExchange(client: Client, id: string): Promise<ExchangeRow | undefined> {
  const { rows } = await client.query<ExchangeRow>('SELECT * FROM exchanges WHERE id = $1 FOR UPDATE', [id])
  return rows[0]
}

/**
 * Moves an exchange through the state machine and records the audit event in the same
 * transaction. Throws invalid-transition when the state machine forbids it.
 */
export async function changeStatus(
  client: Client,
  exchange: ExchangeRow,
  event: ExchangeEvent,
  at: Date,
  extra: { set?: Record<string, unknown> } = {},
): Promise<ExchangeStatus> {
  const to = transition(exchange.status, event)
  const set = { status: to, updated_at: at, ...(extra.set ?? {}) }
  const columns = Object.keys(set)
  await client.query(
    `UPDATE exchanges SET ${columns.map((c, i) => `${c} = $${i + 2}`).join(', ')} WHERE id = $1`,
    [exchange.id, ...Object.values(set)],
  )
  exchange.status = to
  return to
}

const REPLY_EVENTS: Partial<Record<Message['kind'], AuditEventType>> = {
  response: 'exchange.answered',
  refusal: 'exchange.refused',
  'delay-notice': 'exchange.delayed',
  correction: 'exchange.corrected',
}

/**
 * Attaches a reply to its exchange: checks that it comes from the exchange's counterpart, moves
 * the exchange (unless the reply is held for review; release applies it later) and recomputes
 * the deadline when the requested party states accessibility (T2).
 */
export async function applyReply(
  client: Client,
  r: { message: Message; held: boolean; receivedAt: Date; instrument: LegalInstrument; actor: AuditActor },
): Promise<{ exchangeId: string; deadline: Date | null }> {
  const { message } = r
  const { rows } = await client.query<{ exchange_id: string; sender: string; recipient: string; status: string }>(
    'SELECT exchange_id, sender, recipient, status FROM messages WHERE id = $1',
    [message.inReplyTo],
  )
  const parent = rows[0]
  const sender = message.from.agency
  // A bystander learns nothing: a message of another pair, or one held from its recipient (D4),
  // answers exactly like an unknown one.
  const unknown = () => new DomainError('unknown-exchange', `inReplyTo ${message.inReplyTo} names no message known to leix`)
  if (!parent) throw unknown()
  const hidden = parent.recipient === sender && (parent.status === 'held' || parent.status === 'rejected')
  if ((parent.sender !== sender && parent.recipient !== sender) || hidden) throw unknown()
  const exchange = await lockExchange(client, parent.exchange_id)
  if (!exchange) throw unknown()
  const parties = [exchange.requester, exchange.responder]
  if (!parties.includes(sender) || !parties.includes(message.to.agency) || sender === message.to.agency) {
    throw new DomainError('not-counterpart', `only ${exchange.requester} and ${exchange.responder} may write in exchange ${exchange.id}, to each other`)
  }
  const fromResponder = sender === exchange.responder
  if (['response', 'refusal', 'delay-notice'].includes(message.kind) && !fromResponder) {
    throw new DomainError('not-counterpart', `a ${message.kind} may come only from the requested agency ${exchange.responder}`)
  }
  if (message.kind === 'correction' && parent.sender !== sender) {
    throw new DomainError('not-counterpart', `only ${parent.sender}, who sent message ${message.inReplyTo}, may correct it`)
  }
  if (message.accessibility && !fromResponder) {
    throw new DomainError('not-counterpart', `only the requested agency ${exchange.responder} may state accessibility`)
  }
  if (r.held) return { exchangeId: exchange.id, deadline: exchange.deadline }
  const deadline = await applyReplyEffects(client, exchange, message, r.receivedAt, r.instrument, r.actor)
  return { exchangeId: exchange.id, deadline }
}

/** The state change a reply brings; shared by intake and the release of a held reply. */
export async function applyReplyEffects(
  client: Client,
  exchange: ExchangeRow,
  message: Message,
  at: Date,
  instrument: LegalInstrument,
  actor: AuditActor,
): Promise<Date | null> {
  let deadline = exchange.deadline
  const set: Record<string, unknown> = {}
  const common = { actor, exchangeId: exchange.id, messageId: message.id, agencies: [exchange.requester, exchange.responder], legalBasis: exchange.legal_basis }
  if (message.accessibility && exchange.kind === 'request' && deadline) {
    // Keep the time the deadline already moved by (review holds, clarification pauses): it is
    // the difference between the running deadline and the one its current basis gives.
    const profile = instrument.deadlineProfile
    const current = recomputeDeadline(exchange.opened_at, exchange.urgency, exchange.accessibility ?? 'direct', profile)
    const shift = Math.max(0, deadline.getTime() - current.getTime())
    deadline = new Date(recomputeDeadline(exchange.opened_at, exchange.urgency, message.accessibility.level, profile).getTime() + shift)
    set.deadline = deadline
    set.accessibility = message.accessibility.level
    set.deadline_basis = exchange.urgency === 'urgent' ? `urgent-${message.accessibility.level}` : 'normal'
    // A deadline moved past now un-flags an exchange flagged overdue under the stricter one.
    if (deadline.getTime() > at.getTime()) set.overdue_at = null
    await recordEvent(client, { ...common, type: 'exchange.accessibility-stated', outcome: 'ok', details: { accessibility: message.accessibility.level, deadline: deadline.toISOString() } }, at)
  }
  let event: ExchangeEvent | undefined
  switch (message.kind) {
    case 'response': event = 'response'; set.answered_at = at; break
    case 'refusal': event = 'refusal'; set.answered_at = at; break
    case 'delay-notice': event = 'delay-notice'; set.delayed_until = message.delay?.expectedBy ?? null; break
    case 'clarification':
      if (message.from.agency === exchange.responder) {
        event = 'clarification-requested'
        set.paused_at = at
      } else if (exchange.status === 'clarification') {
        event = 'clarification-given'
        // The deadline stood still while the requested party waited for the clarification.
        if (exchange.paused_at && deadline) {
          deadline = new Date(deadline.getTime() + (at.getTime() - exchange.paused_at.getTime()))
          set.deadline = deadline
          if (deadline.getTime() > at.getTime()) set.overdue_at = null
        }
        set.paused_at = null
      }
      break
    case 'correction': break
    default: break
  }
  if (event) await changeStatus(client, exchange, event, at, { set })
  else if (Object.keys(set).length > 0) {
    const columns = Object.keys(set)
    await client.query(`UPDATE exchanges SET ${columns.map((c, i) => `${c} = $${i + 2}`).join(', ')}, updated_at = $${columns.length + 2} WHERE id = $1`, [exchange.id, ...Object.values(set), at])
  }
  // Both directions of a clarification are hops: the responder's question and the requester's answer.
  const type: AuditEventType | undefined = message.kind === 'clarification'
    ? (event === 'clarification-requested' ? 'exchange.clarification-requested' : event === 'clarification-given' ? 'exchange.clarification-given' : undefined)
    : REPLY_EVENTS[message.kind]
  if (type) {
    await recordEvent(client, {
      ...common, type, outcome: 'ok',
      ...(message.kind === 'refusal' && message.refusal ? { reason: `L4(${message.refusal.ground})` } : {}),
      details: {
        status: exchange.status,
        ...(message.kind === 'delay-notice' && message.delay ? { expectedBy: message.delay.expectedBy } : {}),
        ...(event === 'clarification-given' ? { deadline: deadline?.toISOString() ?? null } : {}),
      },
    }, at)
  }
  return deadline
}

/** Who closed an exchange: its requester acknowledging the answer, or leix after the configured time. */
export type CloseBy = 'requester' | 'auto'

/**
 * Closes an answered (or refused, or — for own-initiative exchanges — delivered) exchange and
 * records `exchange.closed`, in the caller's transaction. The state machine refuses other states.
 */
export async function closeExchange(client: Client, exchange: ExchangeRow, by: CloseBy, actor: AuditActor, at: Date, details: Record<string, string | number | null> = {}): Promise<void> {
  const previous = exchange.status
  await changeStatus(client, exchange, 'close', at)
  await recordEvent(client, {
    type: 'exchange.closed', actor, exchangeId: exchange.id, messageId: exchange.opened_by, agencies: [exchange.requester, exchange.responder],
    legalBasis: exchange.legal_basis, outcome: 'ok', reason: by === 'requester' ? 'acknowledged' : 'auto-close', details: { by, previousStatus: previous, ...details },
  }, at)
}

/**
 * Closes exchanges whose final answer (response or refusal) is older than `afterSeconds` and that
 * their requester has not closed, in batches; each closure is an `exchange.closed` event.
 * Returns how many were closed.
 */
export async function closeAnsweredExchanges(pool: Pool, now: Date, afterSeconds: number, batch = 200): Promise<number> {
  if (afterSeconds <= 0) return 0
  const before = new Date(now.getTime() - afterSeconds * 1000)
  let total = 0
  for (;;) {
    const closed = await withTransaction(pool, async (client) => {
      const { rows } = await client.query<ExchangeRow>(
        `SELECT * FROM exchanges WHERE status IN ('answered', 'refused') AND answered_at <= $1
          ORDER BY answered_at LIMIT $2 FOR UPDATE SKIP LOCKED`, [before, batch])
      for (const exchange of rows) await closeExchange(client, exchange, 'auto', { kind: 'broker' }, now, { afterSeconds })
      return rows.length
    })
    total += closed
    if (closed < batch) return total
  }
}
