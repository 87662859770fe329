// D7 retention: on its erase-by date a message's payload (the stored JWS, the only copy of its
// body) is erased and the erasure is logged — ids, digest and date, never the erased content.
// On its review-by date the sender is asked to review it.
import { messageViewers } from '../exchanges/read.ts'
import { recordEvents } from './record.ts'
import type { Clock } from '../config/clock.ts'
import type { Directory } from '../directory/types.ts'
import { createNotifications } from '../delivery/notifications.ts'
import { messageEventBase } from '../delivery/message-row.ts'
import { claimRetentionDue, markRetentionDone, type RetentionDueRow, type RetentionStep } from '../delivery/messages-repository.ts'
import { withTransaction, type Client, type Pool } from '../store/db.ts'

/** Messages handled per transaction. @defaultValue 200 */
export const RETENTION_BATCH = 200

/**
 * Claims messages whose `step` date has passed and which `step` has not handled yet, a batch per
 * transaction with SKIP LOCKED so several processes can run it, marks them handled and lets
 * `record` write the events of the batch in the same transaction. Returns how many it handled.
 */
async function drainDue (
  deps: { pool: Pool; clock: Clock; batchSize?: number },
  step: RetentionStep,
  record: (client: Client, rows: RetentionDueRow[], now: Date) => Promise<void>
): Promise<number> {
  const batch = deps.batchSize ?? RETENTION_BATCH
  let total = 0
  for (;;) {
    const now = deps.clock.now()
    const handled = await withTransaction(deps.pool, async (client) => {
      const rows = await claimRetentionDue(client, step, now, batch)
      if (rows.length === 0) return 0
      await markRetentionDone(client, step, rows.map((r) => r.id), now)
      await record(client, rows, now)
      return rows.length
    })
    total += handled
    if (handled < batch) return total
  }
}

/**
 * Erases every payload whose erase-by date has passed (`erase_by <= now`), each with its
 * `payload.erased` event in the same transaction. Returns how many payloads it erased.
 * `review_by` dates are a review, not an erasure: see `notifyReviewsDue`.
 */
export async function erasePastRetention (deps: { pool: Pool; clock: Clock; batchSize?: number }): Promise<number> {
  return drainDue(deps, 'erase', async (client, rows, now) => {
    await recordEvents(client, rows.map((m) => ({
      ...messageEventBase(m, { kind: 'broker' }, messageViewers(m)), type: 'payload.erased', outcome: 'ok', reason: 'D7-erase-by',
      details: { eraseBy: m.due.toISOString() },
    })), now)
  })
}

/**
 * D7 review-by: when a message reaches its review-by date, its sender (who fixed the date, as
 * data owner) is told once — a `retention.review-due` notification and audit event — so that a
 * person decides whether it may still be kept. Push agencies get the notification from the
 * reconciler's next pass. Returns how many it notified.
 */
export async function notifyReviewsDue (deps: { pool: Pool; clock: Clock; directory: Directory; batchSize?: number }): Promise<number> {
  return drainDue(deps, 'review', async (client, rows, now) => {
    await recordEvents(client, rows.map((m) => ({
      ...messageEventBase(m, { kind: 'broker' }, messageViewers(m)), type: 'retention.review-due', outcome: 'pending', reason: 'D7-review-by',
      details: { reviewBy: m.due.toISOString() },
    })), now)
    for (const m of rows) {
      await createNotifications(client, deps.directory, {
        type: 'retention.review-due', agencies: [m.sender], exchangeId: m.exchange_id, messageId: m.id, details: { reviewBy: m.due.toISOString() },
      }, now)
    }
  })
}
