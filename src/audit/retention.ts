// D7 retention: on its erase-by date a message's payload (the stored JWS, the only copy of its
// body) is erased and the erasure is logged — ids, digest and date, never the erased content.
import { recordEvent } from './record.ts'
import type { Clock } from '../config/clock.ts'
import type { Directory } from '../directory/types.ts'
import { createNotifications } from '../delivery/notifications.ts'
import { withTransaction, type Pool } from '../store/db.ts'

/** Messages erased per transaction. @defaultValue 200 */
export const RETENTION_BATCH = 200

/**
 * Erases every payload whose erase-by date has passed (`erase_by <= now`), each with its
 * `payload.erased` event in the same transaction. Safe in several processes at once (SKIP LOCKED).
 * Returns how many payloads it erased. `review_by` dates are a review, not an erasure: see
 * `notifyReviewsDue`.
 */
export async function erasePastRetention(deps: { pool: Pool; clock: Clock; batchSize?: number }): Promise<number> {
  const batch = deps.batchSize ?? RETENTION_BATCH
  let total = 0
  for (;;) {
    const now = deps.clock.now()
    const erased = await withTransaction(deps.pool, async (client) => {
      const { rows } = await client.query<{ id: string; exchange_id: string; sender: string; recipient: string; legal_basis: string; digest: string; erase_by: Date }>(
        `SELECT id, exchange_id, sender, recipient, legal_basis, digest, erase_by FROM messages
          WHERE erased_at IS NULL AND erase_by <= $1
          ORDER BY erase_by LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [now, batch],
      )
      if (rows.length === 0) return 0
      await client.query('UPDATE messages SET jws = NULL, erased_at = $2, updated_at = $2 WHERE id = ANY($1::uuid[])', [rows.map((r) => r.id), now])
      for (const m of rows) {
        await recordEvent(client, {
          type: 'payload.erased',
          actor: { kind: 'broker' },
          exchangeId: m.exchange_id,
          messageId: m.id,
          agencies: [m.sender, m.recipient],
          legalBasis: m.legal_basis,
          digest: m.digest,
          outcome: 'ok',
          reason: 'D7-erase-by',
          details: { eraseBy: m.erase_by.toISOString() },
        }, now)
      }
      return rows.length
    })
    total += erased
    if (erased < batch) return total
  }
}

/**
 * D7 review-by: when a message reaches its review-by date, its sender (who fixed the date, as
 * data owner) is told once — a `retention.review-due` notification and audit event — so that a
 * person decides whether it may still be kept. Safe in several processes at once (SKIP LOCKED).
 * Push agencies get the notification from the reconciler's next pass. Returns how many it notified.
 */
export async function notifyReviewsDue(deps: { pool: Pool; clock: Clock; directory: Directory; batchSize?: number }): Promise<number> {
  const batch = deps.batchSize ?? RETENTION_BATCH
  let total = 0
  for (;;) {
    const now = deps.clock.now()
    const notified = await withTransaction(deps.pool, async (client) => {
      const { rows } = await client.query<{ id: string; exchange_id: string; sender: string; recipient: string; legal_basis: string; digest: string; review_by: Date }>(
        `SELECT id, exchange_id, sender, recipient, legal_basis, digest, review_by FROM messages
          WHERE review_notified_at IS NULL AND erased_at IS NULL AND review_by <= $1
          ORDER BY review_by LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [now, batch],
      )
      if (rows.length === 0) return 0
      await client.query('UPDATE messages SET review_notified_at = $2, updated_at = $2 WHERE id = ANY($1::uuid[])', [rows.map((r) => r.id), now])
      for (const m of rows) {
        const details = { reviewBy: m.review_by.toISOString() }
        await recordEvent(client, {
          type: 'retention.review-due', actor: { kind: 'broker' }, exchangeId: m.exchange_id, messageId: m.id,
          agencies: [m.sender, m.recipient], legalBasis: m.legal_basis, digest: m.digest, outcome: 'pending', reason: 'D7-review-by', details,
        }, now)
        await createNotifications(client, deps.directory, { type: 'retention.review-due', agencies: [m.sender], exchangeId: m.exchange_id, messageId: m.id, details }, now)
      }
      return rows.length
    })
    total += notified
    if (notified < batch) return total
  }
}
