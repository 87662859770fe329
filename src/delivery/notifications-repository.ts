// The one module with SQL for `notifications`.
import type { Client, Queryable } from '../store/db.ts'

export interface NotificationRow {
  seq: number
  id: string
  agency: string
  type: string
  exchange_id: string | null
  message_id: string | null
  created_at: Date
  details: Record<string, unknown>
  push_status: 'pending' | 'delivered' | 'failed' | null
  push_attempts: number
  push_budget_from: Date | null
  pushed_at: Date | null
}

/** Stores one notification; `push` makes it due for a push now. */
export async function insertNotification (db: Queryable, n: {
  id: string; agency: string; type: string; exchangeId: string | null; messageId: string | null; at: Date; details: Record<string, unknown>; push: boolean
}): Promise<void> {
  await db.query(
    `INSERT INTO notifications (id, agency, type, exchange_id, message_id, created_at, details, push_status, push_budget_from, next_push_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
    [n.id, n.agency, n.type, n.exchangeId, n.messageId, n.at, n.details, n.push ? 'pending' : null, n.push ? n.at : null]
  )
}

export async function findNotification (db: Queryable, id: string): Promise<NotificationRow | undefined> {
  const { rows } = await db.query<NotificationRow>('SELECT * FROM notifications WHERE id = $1', [id])
  return rows[0]
}

export async function lockNotification (client: Client, id: string): Promise<NotificationRow | undefined> {
  const { rows } = await client.query<NotificationRow>('SELECT * FROM notifications WHERE id = $1 FOR UPDATE', [id])
  return rows[0]
}

export async function markPushed (client: Client, id: string, attempts: number, at: Date): Promise<void> {
  await client.query('UPDATE notifications SET push_status = \'delivered\', push_attempts = $2, pushed_at = $3, next_push_at = NULL, push_error = NULL WHERE id = $1', [id, attempts, at])
}

/** A failed push: due again at `next`, or given up (`failed`) when null. */
export async function markPushFailed (client: Client, id: string, attempts: number, next: Date | null, error: string | null): Promise<void> {
  await client.query(
    'UPDATE notifications SET push_status = $2, push_attempts = $3, next_push_at = $4, push_error = $5 WHERE id = $1',
    [id, next ? 'pending' : 'failed', attempts, next, error]
  )
}

/** `agency`'s notifications after `seq`, in order. */
export async function notificationsAfter (db: Queryable, agency: string, seq: number, limit: number): Promise<NotificationRow[]> {
  const { rows } = await db.query<NotificationRow>(
    `SELECT * FROM notifications WHERE agency = $1 AND seq > $2 ORDER BY seq LIMIT ${limit}`,
    [agency, seq]
  )
  return rows
}

/** Notifications due for a push after the keyset `after` (next push, id), in that order. */
export async function duePushesAfter (db: Queryable, after: [Date, string], limit: number): Promise<{ id: string; due: Date }[]> {
  const { rows } = await db.query<{ id: string; due: Date }>(
    `SELECT id, next_push_at AS due FROM notifications
        WHERE push_status = 'pending' AND next_push_at IS NOT NULL AND (next_push_at, id) > ($1, $2)
        ORDER BY next_push_at, id LIMIT ${limit}`,
    after
  )
  return rows
}
