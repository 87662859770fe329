import type { Client } from '../store/db.ts'

/** A message row as delivery, redelivery and review read it (metadata and the JWS, never parsed here). */
export interface MessageRow {
  id: string
  exchange_id: string
  kind: string
  sender: string
  recipient: string
  status: string
  digest: string
  jws: string | null
  legal_basis: string
  attempts: number
  budget_attempts: number
  next_attempt_at: Date | null
  delivery_budget_from: Date | null
  received_at: Date
  delivered_at: Date | null
  holds: { rule: string; path: string; message: string }[] | null
}

export const MESSAGE_COLUMNS = `id, exchange_id, kind, sender, recipient, status, digest, jws, legal_basis, attempts, budget_attempts, next_attempt_at,
            delivery_budget_from, received_at, delivered_at, holds`

/** Locks a message row for a state change in the caller's transaction. */
export async function lockMessage(client: Client, id: string): Promise<MessageRow | undefined> {
  const { rows } = await client.query<MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = $1 FOR UPDATE`, [id])
  return rows[0]
}
