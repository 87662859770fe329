import { DomainError } from '../errors.ts'
import type { Client } from '../store/db.ts'
import type { SqlPart } from '../store/statement.ts'
import { statusChange, updateExchange, type ExchangeChange, type ExchangeRow } from './exchanges-repository.ts'

/**
 * The exchange state machine, in one place. Every change of `exchanges.status` goes through
 * `transition()`, which refuses anything not listed here: `changeStatus` in a transaction, or
 * `transitionPart` inside a one-statement change (the exchanges repository writes no status itself).
 *
 *   held ──release──▶ accepted ──delivered──▶ delivered ──acknowledged──▶ acknowledged
 *     └──reject──▶ closed      │   ▲                 │                          │
 *                undeliverable ▼   │ redeliver       ▼                          ▼
 *                        undeliverable        clarification ⇄ (resume) ── delayed
 *   any open state ──response──▶ answered      any open state ──refusal──▶ refused
 *   answered | refused ──close──▶ closed
 *
 * Corrections, consent-requests and consents (D6) are replies that move no state: they may come
 * at any time, also after the exchange closed, since consent to use data outlives the exchange.
 *
 * Overdue is not a state: it is a flag (`overdue_at`) on an open exchange, because an overdue
 * exchange can still be answered (rule T2, T3).
 */
export const EXCHANGE_STATUSES = [
  'held',
  'accepted',
  'delivered',
  'acknowledged',
  'clarification',
  'delayed',
  'answered',
  'refused',
  'undeliverable',
  'closed',
] as const
export type ExchangeStatus = (typeof EXCHANGE_STATUSES)[number]

export type ExchangeEvent =
  | 'release' // held message released by review
  | 'reject' // held message rejected by review
  | 'delivered' // opening message delivered
  | 'undeliverable' // opening message ran out of its delivery budget
  | 'redeliver' // admin restarts the budget
  | 'acknowledged' // recipient acknowledged the opening message
  | 'clarification-requested' // responder asks the requester for clarification: deadline pauses
  | 'clarification-given' // requester answers: deadline resumes
  | 'delay-notice' // responder announces a delay (T3)
  | 'response'
  | 'refusal'
  | 'close'

const OPEN_AWAITING: ExchangeStatus[] = ['accepted', 'delivered', 'acknowledged', 'clarification', 'delayed']

/** from-states for each event, and the state it leads to. */
export const TRANSITIONS: Record<ExchangeEvent, { from: ExchangeStatus[]; to: ExchangeStatus }> = {
  release: { from: ['held'], to: 'accepted' },
  reject: { from: ['held'], to: 'closed' },
  delivered: { from: ['accepted', 'undeliverable'], to: 'delivered' },
  undeliverable: { from: ['accepted'], to: 'undeliverable' },
  redeliver: { from: ['undeliverable'], to: 'accepted' },
  acknowledged: { from: ['accepted', 'delivered', 'undeliverable'], to: 'acknowledged' },
  'clarification-requested': { from: ['accepted', 'delivered', 'acknowledged', 'delayed'], to: 'clarification' },
  'clarification-given': { from: ['clarification'], to: 'acknowledged' },
  'delay-notice': { from: ['accepted', 'delivered', 'acknowledged', 'delayed'], to: 'delayed' },
  response: { from: [...OPEN_AWAITING, 'answered'], to: 'answered' },
  refusal: { from: OPEN_AWAITING, to: 'refused' },
  close: { from: ['answered', 'refused', 'delivered', 'acknowledged'], to: 'closed' },
}

/** States in which an exchange still waits for the responder (a deadline can run out). */
export const AWAITING_ANSWER: ReadonlySet<ExchangeStatus> = new Set(OPEN_AWAITING)

export function canTransition (from: ExchangeStatus, event: ExchangeEvent): boolean {
  return TRANSITIONS[event].from.includes(from)
}

/** The next state, or an invalid-transition DomainError naming both. */
export function transition (from: ExchangeStatus, event: ExchangeEvent): ExchangeStatus {
  const rule = TRANSITIONS[event]
  if (!rule.from.includes(from)) {
    throw new DomainError('invalid-transition', `an exchange that is ${from} cannot take ${event}; allowed from: ${rule.from.join(', ')}`, {
      extra: { from, event },
    })
  }
  return rule.to
}

/**
 * Moves an exchange through the state machine and writes the new status (with `extra.set`) in the
 * caller's transaction. Throws invalid-transition when the state machine forbids it.
 */
export async function changeStatus (
  client: Client,
  exchange: ExchangeRow,
  event: ExchangeEvent,
  at: Date,
  extra: { set?: ExchangeChange } = {}
): Promise<ExchangeStatus> {
  const to = transition(exchange.status, event)
  await updateExchange(client, exchange.id, { status: to, ...(extra.set ?? {}) }, at)
  exchange.status = to
  return to
}

/**
 * `event` for the exchange `messageId` opened, as a part of a larger statement: applied only where
 * the state machine allows it (the exchange may have moved on), and only if the row of
 * `guard.cte` has `guard.column` in `guard.in`. Nothing happens otherwise; nothing is refused.
 */
export function transitionPart (
  event: ExchangeEvent,
  c: { exchangeId: string; messageId: string; at: Date; guard: { cte: string; column: string; in: readonly string[] } }
): SqlPart {
  const rule = TRANSITIONS[event]
  return statusChange({ id: c.exchangeId, openedBy: c.messageId, to: rule.to, from: rule.from, at: c.at, guard: c.guard })
}
