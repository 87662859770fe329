// D7 retention: on its erase-by date a message's payload (the stored JWS, the only copy of its
// body) is erased and the erasure is logged — ids, digest and date, never the erased content.
// On its review-by date the sender is asked to review it.
import { messageViewers } from '../exchanges/read.ts'
import { recordEvents } from './record.ts'
import type { Clock } from '../config/clock.ts'
import type { Directory } from '../directory/types.ts'
import { createNotifications } from '../delivery/notifications.ts'
import { withTransaction, type Client, type Pool } from '../store/db.ts'

/** Messages handled per transaction. @defaultValue 200 */
export const RETENTION_BATCH = 200

interface DueMessage {
  id: string
  exchange_id: string
  sender: string
  status: string
  recipient: string
  legal_basis: string
  digest: string
  /** The erase-by or review-by date that fell due. */
  due: Date
}

/**
 * Claims messages whose `dateColumn` has passed (and that `pendingWhere` still selects), a batch per
 * transaction with SKIP LOCKED so several processes can run it, sets `markColumn` to now and lets
 * `record` write the events of the batch in the same transaction. Returns how many it handled.
 */
async function drainDue(
  deps: { pool: Pool; clock: Clock; batchSize?: number },
  q: { dateColumn: 'erase_by' | 'review_by'; pendingWhere: string; mark: string },
  record: (client: Client, rows: DueMessage[], now: Date) => Promise<void>,
): Promise<number> {
  const batch = deps.batchSize ?? RETENTION_BATCH
  let total = 0
  for (;;) {
    const now = deps.clock.now()
    const handled = await withTransaction(deps.pool, async (client) => {
      const { rows } = await client.query<DueMessage>(
        `SELECT id, exchange_id, sender, recipient, status, legal_basis, digest, ${q.dateColumn} AS due FROM messages
          WHERE ${q.pendingWhere} AND ${q.dateColumn} <= $1
          ORDER BY ${q.dateColumn} LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [now, batch],
      )
      if (rows.length === 0) return 0
      await client.query(`UPDATE messages SET ${q.mark}, updated_at = $2 WHERE id = ANY($1::uuid[])`, [rows.map((r) => r.id), now])
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
export async function erasePastRetention(deps: { pool: Pool; clock: Clock; batchSize?: number }): Promise<number> {
  return drainDue(deps, { dateColumn: 'erase_by', pendingWhere: 'erased_at IS NULL', mark: 'jws = NULL, erased_at = $2' }, async (client, rows, now) => {
    await recordEvents(client, rows.map((m) => ({
      type: 'payload.erased', actor: { kind: 'broker' }, exchangeId: m.exchange_id, messageId: m.id,
      agencies: messageViewers(m), legalBasis: m.legal_basis, digest: m.digest, outcome: 'ok', reason: 'D7-erase-by',
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
export async function notifyReviewsDue(deps: { pool: Pool; clock: Clock; directory: Directory; batchSize?: number }): Promise<number> {
  const pendingWhere = 'review_notified_at IS NULL AND erased_at IS NULL'
  return drainDue(deps, { dateColumn: 'review_by', pendingWhere, mark: 'review_notified_at = $2' }, async (client, rows, now) => {
    await recordEvents(client, rows.map((m) => ({
      type: 'retention.review-due', actor: { kind: 'broker' }, exchangeId: m.exchange_id, messageId: m.id,
      agencies: messageViewers(m), legalBasis: m.legal_basis, digest: m.digest, outcome: 'pending', reason: 'D7-review-by',
      details: { reviewBy: m.due.toISOString() },
    })), now)
    for (const m of rows) {
      await createNotifications(client, deps.directory, {
        type: 'retention.review-due', agencies: [m.sender], exchangeId: m.exchange_id, messageId: m.id, details: { reviewBy: m.due.toISOString() },
      }, now)
    }
  })
}
