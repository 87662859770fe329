import type { Clock } from '../config/clock.ts'
import type { Directory } from '../directory/types.ts'
import type { Queryable } from '../store/db.ts'
import * as messages from './messages-repository.ts'
import * as notifications from './notifications-repository.ts'
import type { DeliveryQueue } from './queue.ts'
import type { Metrics } from '../observability/metrics.ts'

export interface ReconcilerDeps {
  pool: Queryable
  queue: DeliveryQueue
  clock: Clock
  /** When given, messages waiting in the inbox of an agency that now receives by push are pushed. */
  directory?: Directory
  /** Re-enqueued jobs are counted here when given. */
  metrics?: Metrics
}

/** Rows read per round trip. */
const BATCH = 500

/**
 * PostgreSQL is the authority on what must be delivered; Redis only triggers the work. The
 * reconciler finds every message still to be pushed (`accepted`, with a next attempt) and every
 * notification still to be pushed whose job Redis does not hold — Redis restarted empty, an
 * enqueue failed after commit, a job failed unexpectedly — and enqueues it again, delayed until
 * its recorded next attempt. Enqueueing what is already queued is harmless (the job id is the
 * message id) and so is a job for a message delivered meanwhile (the worker checks its status).
 */
export class Reconciler {
  readonly #deps: ReconcilerDeps
  constructor (deps: ReconcilerDeps) {
    this.#deps = deps
  }

  /** One pass. Returns how many jobs it put back. */
  async runOnce (): Promise<{ messages: number; notifications: number }> {
    await this.#adoptPushAgencies()
    const pushed = await this.#pass(
      (after) => messages.duePushesAfter(this.#deps.pool, after, BATCH),
      (ids) => this.#deps.queue.heldDeliveries(ids),
      (id, delay) => this.#deps.queue.enqueue(id, delay)
    )
    const notified = await this.#pass(
      (after) => notifications.duePushesAfter(this.#deps.pool, after, BATCH),
      (ids) => this.#deps.queue.heldNotifications(ids),
      (id, delay) => this.#deps.queue.enqueueNotification(id, delay)
    )
    if (pushed > 0) this.#deps.metrics?.reconcilerReenqueued.inc({ kind: 'message' }, pushed)
    if (notified > 0) this.#deps.metrics?.reconcilerReenqueued.inc({ kind: 'notification' }, notified)
    return { messages: pushed, notifications: notified }
  }

  /**
   * An agency that switched from pull to push (a directory change and a restart) still has
   * unacknowledged messages waiting in its inbox with no next attempt: make them due, so that the
   * pass below pushes them. The worker moves them back to the inbox if the agency pulls again.
   */
  async #adoptPushAgencies (): Promise<void> {
    const { directory } = this.#deps
    if (!directory) return
    const push = [...directory.agencies.values()].filter((a) => a.delivery.mode === 'push').map((a) => a.id)
    if (push.length === 0) return
    const now = this.#deps.clock.now()
    await messages.scheduleInboxForPush(this.#deps.pool, push, now)
  }

  async #pass (due: (after: [Date, string]) => Promise<{ id: string; due: Date }[]>, held: (ids: string[]) => Promise<Set<string>>, enqueue: (id: string, delayMs: number) => Promise<void>): Promise<number> {
    let after: [Date, string] = [new Date(0), '00000000-0000-0000-0000-000000000000']
    let restored = 0
    for (;;) {
      const rows = await due(after)
      if (rows.length === 0) break
      const present = await held(rows.map((r) => r.id))
      const now = this.#deps.clock.now().getTime()
      for (const row of rows) {
        if (present.has(row.id)) continue
        await enqueue(row.id, Math.max(0, row.due.getTime() - now))
        restored++
      }
      const last = rows[rows.length - 1] as { id: string; due: Date }
      after = [last.due, last.id]
      if (rows.length < BATCH) break
    }
    return restored
  }
}
