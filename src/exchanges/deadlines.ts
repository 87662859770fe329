import { recordEvent } from '../audit/record.ts'
import type { Clock } from '../config/clock.ts'
import type { Directory } from '../directory/types.ts'
import { createNotifications } from '../delivery/notifications.ts'
import { messageEventBase } from '../delivery/message-row.ts'
import { claimUndelivered, markNonDelivery } from '../delivery/messages-repository.ts'
import { withTransaction, type Pool } from '../store/db.ts'
import { claimOverdue, claimWarningDue, markOverdue, recordWarningSent, type DeadlineWarning } from './exchanges-repository.ts'
import { AWAITING_ANSWER, type ExchangeStatus } from './state.ts'

export interface DeadlineWatcherDeps {
  pool: Pool
  clock: Clock
  directory: Directory
  /** T5: seconds after acceptance without delivery before a message gets a non-delivery status. */
  nonDeliverySeconds: number
  /** Called after commit with the notifications to push. */
  push: (notificationIds: string[]) => Promise<void>
  /** T2: when both parties are warned that a deadline is near (`parseDeadlineWarnings`). @defaultValue none */
  warnings?: readonly DeadlineWarning[]
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 }

/**
 * Reads the deadline warnings setting: comma-separated `75%` (that share of the time from opening
 * to the deadline has passed) or `1h`, `30m`, `90s`, `2d` (that long before the deadline).
 * Throws on anything else.
 */
export function parseDeadlineWarnings (setting: string): DeadlineWarning[] {
  const warnings: DeadlineWarning[] = []
  for (const raw of setting.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const share = /^(\d{1,2}(?:\.\d+)?)%$/.exec(raw)
    const before = /^(\d{1,7})([smhd])$/.exec(raw)
    if (share && Number(share[1]) > 0) warnings.push({ key: raw, fraction: Number(share[1]) / 100 })
    else if (before && Number(before[1]) > 0) warnings.push({ key: raw, beforeSeconds: Number(before[1]) * UNIT_SECONDS[before[2]!]! })
    else throw new Error(`deadline warning ${JSON.stringify(raw)}: expected a share such as 75% or a time before such as 1h`)
  }
  return warnings
}

/**
 * When `warning` falls for a deadline running from `openedAt` (pure; the watcher's SQL applies
 * the same arithmetic).
 */
export function warningAt (openedAt: Date, deadline: Date, warning: DeadlineWarning): Date {
  if ('fraction' in warning) return new Date(openedAt.getTime() + (deadline.getTime() - openedAt.getTime()) * warning.fraction)
  return new Date(deadline.getTime() - warning.beforeSeconds * 1000)
}

/**
 * States in which a deadline warning is useful: the clock runs and the responder has not
 * announced a delay (T3) — a delayed exchange's requester already knows when to expect the answer.
 */
const WARNING_RUNS: readonly ExchangeStatus[] = ['accepted', 'delivered', 'acknowledged']

/** Rows handled per transaction. */
const BATCH = 200

/**
 * States in which the responder's clock runs. A clarification pauses it (the deadline moves on
 * by the pause when the requester answers), so an exchange in `clarification` is never overdue.
 */
export const DEADLINE_RUNS: readonly ExchangeStatus[] = [...AWAITING_ANSWER].filter((s) => s !== 'clarification')

/**
 * Watches deadlines (rule T2, T3, T5):
 * - an exchange still awaiting its answer after its deadline is flagged overdue once
 *   (`overdue_at`, `exchange.overdue`) and both agencies are notified. A `delayed` exchange
 *   (the responder sent a T3 delay notice) becomes overdue only once both the deadline and the
 *   announced `expectedBy` have passed: the notice is the lawful way to answer late, so the
 *   exchange is not overdue while the announced delay runs, and is as soon as it is exceeded.
 * - a message not delivered (pushed with a 2xx, or acknowledged from the inbox) within
 *   `nonDeliverySeconds` of becoming deliverable gets `non_delivery_at` and a
 *   `message.non-delivery` event that both agencies see in the timeline, and a notification.
 * Several workers may run it at once: rows are claimed with SKIP LOCKED and flagged once.
 */
export class DeadlineWatcher {
  readonly #deps: DeadlineWatcherDeps
  constructor (deps: DeadlineWatcherDeps) {
    this.#deps = deps
  }

  /** One pass with the clock's current time. Returns the exchanges and messages flagged. */
  async runOnce (): Promise<{ overdue: string[]; nonDelivery: string[] }> {
    await this.warnOnce()
    const overdue: string[] = []
    const nonDelivery: string[] = []
    for (;;) {
      const batch = await this.#overdueBatch()
      overdue.push(...batch)
      if (batch.length < BATCH) break
    }
    for (;;) {
      const batch = await this.#nonDeliveryBatch()
      nonDelivery.push(...batch)
      if (batch.length < BATCH) break
    }
    return { overdue, nonDelivery }
  }

  /** The deadline warnings (T2) of one pass, also run by `runOnce`. Returns the exchanges warned. */
  async warnOnce (): Promise<string[]> {
    const warned: string[] = []
    for (const warning of this.#deps.warnings ?? []) {
      for (;;) {
        const batch = await this.#warningBatch(warning)
        warned.push(...batch)
        if (batch.length < BATCH) break
      }
    }
    return warned
  }

  /** T2: both parties are told, once per warning and deadline, that the deadline is near. */
  async #warningBatch (warning: DeadlineWarning): Promise<string[]> {
    const now = this.#deps.clock.now()
    const { ids, push } = await withTransaction(this.#deps.pool, async (client) => {
      const rows = await claimWarningDue(client, now, WARNING_RUNS, warning, BATCH)
      const push: string[] = []
      for (const e of rows) {
        await recordWarningSent(client, e.id, warning.key, e.deadline, now)
        const details = { warning: warning.key, deadline: e.deadline.toISOString(), status: e.status, secondsLeft: Math.round((e.deadline.getTime() - now.getTime()) / 1000) }
        await recordEvent(client, {
          type: 'exchange.deadline-warning', actor: { kind: 'broker' }, exchangeId: e.id, messageId: e.opened_by,
          agencies: [e.requester, e.responder], legalBasis: e.legal_basis, outcome: 'ok', reason: 'T2', details,
        }, now)
        push.push(...await createNotifications(client, this.#deps.directory, {
          type: 'exchange.deadline-warning', agencies: [e.requester, e.responder], exchangeId: e.id, messageId: e.opened_by, details,
        }, now))
      }
      return { ids: rows.map((r) => r.id), push }
    })
    await this.#deps.push(push)
    return ids
  }

  async #overdueBatch (): Promise<string[]> {
    const now = this.#deps.clock.now()
    const { ids, push } = await withTransaction(this.#deps.pool, async (client) => {
      const rows = await claimOverdue(client, now, DEADLINE_RUNS, BATCH)
      const push: string[] = []
      for (const e of rows) {
        await markOverdue(client, e.id, now)
        const details = {
          deadline: e.deadline.toISOString(), status: e.status, delayedUntil: e.delayed_until?.toISOString() ?? null,
          overdueSeconds: Math.round((now.getTime() - e.deadline.getTime()) / 1000),
        }
        await recordEvent(client, {
          type: 'exchange.overdue', actor: { kind: 'broker' }, exchangeId: e.id, messageId: e.opened_by,
          agencies: [e.requester, e.responder], legalBasis: e.legal_basis, outcome: 'ok', reason: 'T2', details,
        }, now)
        push.push(...await createNotifications(client, this.#deps.directory, {
          type: 'exchange.overdue', agencies: [e.requester, e.responder], exchangeId: e.id, messageId: e.opened_by, details,
        }, now))
      }
      return { ids: rows.map((r) => r.id), push }
    })
    await this.#deps.push(push)
    return ids
  }

  async #nonDeliveryBatch (): Promise<string[]> {
    const now = this.#deps.clock.now()
    const limit = new Date(now.getTime() - this.#deps.nonDeliverySeconds * 1000)
    const { ids, push } = await withTransaction(this.#deps.pool, async (client) => {
      const rows = await claimUndelivered(client, limit, BATCH)
      const push: string[] = []
      for (const m of rows) {
        await markNonDelivery(client, m.id, now)
        const details = { kind: m.kind, status: m.status, attempts: m.attempts, acceptedAt: m.since.toISOString(), limitSeconds: this.#deps.nonDeliverySeconds }
        await recordEvent(client, { ...messageEventBase(m, { kind: 'broker' }), type: 'message.non-delivery', outcome: 'failed', reason: 'T5', details }, now)
        push.push(...await createNotifications(client, this.#deps.directory, {
          type: 'message.non-delivery', agencies: [m.sender, m.recipient], exchangeId: m.exchange_id, messageId: m.id, details,
        }, now))
      }
      return { ids: rows.map((r) => r.id), push }
    })
    await this.#deps.push(push)
    return ids
  }
}
