import { recordEvent, type AuditActor, type AuditEventInput, type AuditEventType } from '../audit/record.ts'
import type { LegalInstrument } from '../directory/types.ts'
import { DomainError } from '../errors.ts'
import type { Message } from '../intake/message.ts'
import { acceptedReplyLanguages, checkDelayAgainstDeadline, checkReplyLanguage, DEFAULT_TIME_ZONE, recomputeDeadline, type DeadlineTerms } from '../policy/index.ts'
import { findReplyParent, receivedByRequesterAt } from '../delivery/messages-repository.ts'
import { withTransaction, type Client, type Pool } from '../store/db.ts'
import type { RowsInsert } from '../store/statement.ts'
import { claimAnsweredBefore, insertExchange, lockExchange, updateExchange, type ExchangeChange, type ExchangeRow } from './exchanges-repository.ts'
import { changeStatus, type ExchangeEvent } from './state.ts'
import type { ConsentSubject } from './lineage.ts'
import { randomUUID } from 'node:crypto'

// Routes lock an exchange before closing it.
export { lockExchange } from './exchanges-repository.ts'

/** What opening an exchange stores: the exchange row and its `exchange.opened` event. */
export interface Opening {
  exchangeId: string
  deadline: Date | null
  /** The INSERT of the exchange row, for the caller's statement. */
  insert: RowsInsert
  event: AuditEventInput
}

/** Prepares the exchange a request or own-initiative message opens (stored by the caller). */
export function openExchange (o: { message: Message; status: 'accepted' | 'held'; deadline: Date | null; receivedAt: Date; terms: DeadlineTerms }): Opening {
  const { message } = o
  if (message.kind !== 'request' && message.kind !== 'spontaneous') {
    throw new DomainError('schema-violation', `a ${message.kind} needs inReplyTo`)
  }
  const id = randomUUID()
  return {
    exchangeId: id,
    deadline: o.deadline,
    insert: insertExchange({
      id, requester: message.from.agency, responder: message.to.agency, openedBy: message.id, kind: message.kind, caseRef: message.caseRef,
      crimeAreas: message.crimeAreas, legalBasis: message.legalBasis.instrument, urgency: message.urgency.level,
      classification: message.handling.classification, status: o.status, openedAt: o.receivedAt, deadline: o.deadline,
      deadlineBasis: o.deadline ? (o.terms.profile === 'requester-set' ? 'requester-set' : message.urgency.level === 'urgent' ? 'urgent-direct' : 'normal') : null,
      deadlineProfile: o.terms.profile, timeZone: o.terms.timeZone, language: message.language,
    }),
    event: {
      type: 'exchange.opened', actor: { kind: 'agency-system', agency: message.from.agency, id: message.from.officer },
      exchangeId: id, messageId: message.id, agencies: [message.from.agency, message.to.agency], legalBasis: message.legalBasis.instrument,
      purpose: message.crimeAreas, outcome: 'ok', details: { kind: message.kind, urgency: message.urgency.level, deadline: o.deadline?.toISOString() ?? null },
    },
  }
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
export async function applyReply (
  client: Client,
  r: { message: Message; held: boolean; receivedAt: Date; instrument: LegalInstrument; actor: AuditActor; recipientLanguages: readonly string[] }
): Promise<{ exchangeId: string; deadline: Date | null; consentSubject?: ConsentSubject }> {
  const { message } = r
  const parent = message.inReplyTo === undefined ? undefined : await findReplyParent(client, message.inReplyTo)
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
  // D6: a consent-request asks the provider (sender) of a message the holder received; a consent
  // answers a consent-request, from the provider it asked. Both are replies in the exchange of the
  // message asked about and move no state (like a correction): consent may be asked at any time.
  if (message.kind === 'consent-request' && parent.recipient !== sender) {
    throw new DomainError('not-counterpart', `a consent-request asks ${parent.sender}, who sent message ${message.inReplyTo}, about it; only its recipient ${parent.recipient} asks`)
  }
  let consentSubject: ConsentSubject | undefined
  if (message.kind === 'consent') {
    if (parent.kind !== 'consent-request' || parent.in_reply_to === null) {
      throw new DomainError('principle-violation', 'a consent answers a consent-request', {
        violations: [{ rule: 'D6', path: '/inReplyTo', message: `message ${message.inReplyTo} is a ${parent.kind}, not a consent-request` }],
      })
    }
    if (parent.recipient !== sender) throw new DomainError('not-counterpart', `only ${parent.recipient}, who was asked, may answer consent-request ${message.inReplyTo}`)
    consentSubject = { messageId: parent.in_reply_to, holder: parent.sender }
  }
  if (message.accessibility && !fromResponder) {
    throw new DomainError('not-counterpart', `only the requested agency ${exchange.responder} may state accessibility`)
  }
  // L1: the exchange's instrument governs every message in it (and so its deadline profile).
  if (message.legalBasis.instrument !== exchange.legal_basis) {
    throw new DomainError('principle-violation', `a reply cites its exchange's instrument ${exchange.legal_basis}`, {
      violations: [{ rule: 'L1', path: '/legalBasis/instrument', message: `exchange ${exchange.id} is under ${exchange.legal_basis}, not ${message.legalBasis.instrument}` }],
    })
  }
  // P2: in the request's language, or one the reply's recipient lists.
  const language = checkReplyLanguage(message, exchange.language, r.recipientLanguages)
  if (language.length > 0) {
    throw new DomainError('principle-violation', 'the message breaks P2', {
      violations: language, extra: { acceptedLanguages: acceptedReplyLanguages(exchange.language, r.recipientLanguages) },
    })
  }
  // T3: a delay notice before the deadline, within its ground's allowance; a miss is never erased.
  if (message.kind === 'delay-notice' && message.delay) {
    const violations = checkDelayAgainstDeadline({
      at: r.receivedAt, deadline: exchange.deadline, delayedUntil: exchange.delayed_until, overdueAt: exchange.overdue_at,
      delay: message.delay, instrument: r.instrument, timeZone: exchange.time_zone ?? DEFAULT_TIME_ZONE,
    })
    if (violations.length > 0) throw new DomainError('principle-violation', 'the delay notice breaks rule T3', { violations })
  }
  if (r.held) return { exchangeId: exchange.id, deadline: exchange.deadline, ...(consentSubject ? { consentSubject } : {}) }
  const deadline = await applyReplyEffects(client, exchange, message, r.receivedAt, r.actor)
  return { exchangeId: exchange.id, deadline, ...(consentSubject ? { consentSubject } : {}) }
}

/** The state change a reply brings; shared by intake and the release of a held reply. */
export async function applyReplyEffects (
  client: Client,
  exchange: ExchangeRow,
  message: Message,
  at: Date,
  actor: AuditActor
): Promise<Date | null> {
  let deadline = exchange.deadline
  const set: ExchangeChange = {}
  const common = { actor, exchangeId: exchange.id, messageId: message.id, agencies: [exchange.requester, exchange.responder], legalBasis: exchange.legal_basis }
  if (message.accessibility && exchange.kind === 'request' && deadline) {
    set.accessibility = message.accessibility.level
    let moved = false
    // A statement may lengthen a running deadline; a deadline already missed stays missed (T2).
    if (exchange.deadline_profile !== null && deadline.getTime() > at.getTime() && exchange.overdue_at === null) {
      // Keep the time the deadline already moved by (review holds, clarification pauses): it is
      // the difference between the running deadline and the one its current basis gives.
      const terms: DeadlineTerms = { profile: exchange.deadline_profile, timeZone: exchange.time_zone ?? DEFAULT_TIME_ZONE }
      const current = recomputeDeadline(exchange.opened_at, exchange.urgency, exchange.accessibility ?? 'direct', terms)
      const next = recomputeDeadline(exchange.opened_at, exchange.urgency, message.accessibility.level, terms)
      if (current && next) {
        const shift = Math.max(0, deadline.getTime() - current.getTime())
        const candidate = new Date(next.getTime() + shift)
        // Never shorter than the deadline already running.
        if (candidate.getTime() > deadline.getTime()) {
          deadline = candidate
          set.deadline = deadline
          set.deadline_basis = exchange.urgency === 'urgent' ? `urgent-${message.accessibility.level}` : 'normal'
          moved = true
        }
      }
    }
    await recordEvent(client, {
      ...common, type: 'exchange.accessibility-stated', outcome: 'ok',
      details: { accessibility: message.accessibility.level, deadline: deadline.toISOString(), moved, missed: deadline.getTime() <= at.getTime() || exchange.overdue_at !== null },
    }, at)
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
        // The deadline stood still from when the requester received the question (pushed, or
        // fetched from its inbox) until its answer; before that receipt, the clock ran.
        if (exchange.paused_at && deadline) {
          const received = await receivedByRequesterAt(client, exchange.id, exchange.responder, exchange.paused_at)
          const from = received ?? at
          if (from.getTime() < at.getTime()) {
            deadline = new Date(deadline.getTime() + (at.getTime() - from.getTime()))
            set.deadline = deadline
          }
        }
        set.paused_at = null
      }
      break
    case 'correction': break
    default: break
  }
  if (event) await changeStatus(client, exchange, event, at, { set })
  else if (Object.keys(set).length > 0) await updateExchange(client, exchange.id, set, at)
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
export async function closeExchange (client: Client, exchange: ExchangeRow, by: CloseBy, actor: AuditActor, at: Date, details: Record<string, string | number | null> = {}): Promise<void> {
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
export async function closeAnsweredExchanges (pool: Pool, now: Date, afterSeconds: number, batch = 200): Promise<number> {
  if (afterSeconds <= 0) return 0
  const before = new Date(now.getTime() - afterSeconds * 1000)
  let total = 0
  for (;;) {
    const closed = await withTransaction(pool, async (client) => {
      const rows = await claimAnsweredBefore(client, before, batch)
      for (const exchange of rows) await closeExchange(client, exchange, 'auto', { kind: 'broker' }, now, { afterSeconds })
      return rows.length
    })
    total += closed
    if (closed < batch) return total
  }
}
