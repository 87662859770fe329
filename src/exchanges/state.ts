import { DomainError } from '../errors.ts'

/**
 * The exchange state machine, in one place: `transition()` refuses any change not listed here.
 * Changes go through it via `changeStatus()` (exchanges/record.ts), with one exception: a push
 * delivery (delivery/deliver.ts) sets `delivered` in its own statement, guarded by
 * `TRANSITIONS.delivered.from` in SQL rather than by `transition()`.
 *
 *   held ──release──▶ accepted ──delivered──▶ delivered ──acknowledged──▶ acknowledged
 *     └──reject──▶ closed      │   ▲                 │                          │
 *                undeliverable ▼   │ redeliver       ▼                          ▼
 *                        undeliverable        clarification ⇄ (resume) ── delayed
 *   any open state ──response──▶ answered      any open state ──refusal──▶ refused
 *   answered | refused ──close──▶ closed
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

export function canTransition(from: ExchangeStatus, event: ExchangeEvent): boolean {
  return TRANSITIONS[event].from.includes(from)
}

/** The next state, or an invalid-transition DomainError naming both. */
export function transition(from: ExchangeStatus, event: ExchangeEvent): ExchangeStatus {
  const rule = TRANSITIONS[event]
  if (!rule.from.includes(from)) {
    throw new DomainError('invalid-transition', `an exchange that is ${from} cannot take ${event}; allowed from: ${rule.from.join(', ')}`, {
      extra: { from, event },
    })
  }
  return rule.to
}
