// D7 retention: on its erase-by date a message's payload (the stored JWS, the only copy of its
// body) is erased and the erasure is logged — ids, digest and date, never the erased content.
import { recordEvent } from './record.ts'
import type { Clock } from '../config/clock.ts'
import { withTransaction, type Pool } from '../store/db.ts'

/** Messages erased per transaction. @defaultValue 200 */
export const RETENTION_BATCH = 200

/**
 * Erases every payload whose erase-by date has passed (`erase_by <= now`), each with its
 * `payload.erased` event in the same transaction. Safe in several processes at once (SKIP LOCKED).
 * Returns how many payloads it erased. `review_by` dates are left to people (a review, not an erasure).
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
