import { recordEvent } from '../audit/record.ts'
import { randomUUID } from 'node:crypto'
import type { Directory } from '../directory/types.ts'
import { withTransaction, type Queryable } from '../store/db.ts'
import { budgetFor, nextAttemptAt } from './budget.ts'
import { findNotification, insertNotification, lockNotification, markPushed, markPushFailed, notificationsAfter, type NotificationRow } from './notifications-repository.ts'
import type { DeliveryDeps } from './deliver.ts'
import type { DeliveryQueue } from './queue.ts'
import { signNotification, type NotificationBody } from './signature.ts'
import { postWebhook } from './webhook.ts'

/**
 * Notifications tell an agency something about its exchanges that it did not send itself:
 * an exchange's deadline is near (T2, `exchange.deadline-warning`) or passed (T2), a message was not delivered in time (T5), a message is
 * undeliverable, a message it sent has reached its review-by date (D7), a message whose data it holds (directly or passed on) was corrected by its provider (Q3, `message.corrected`). Every agency can list its own (`GET /v1/notifications`); push agencies also get
 * each one POSTed to their webhook as a compact JWS signed by the broker. They hold ids and
 * metadata only, never personal data.
 */
export type NotificationType = 'exchange.overdue' | 'exchange.deadline-warning' | 'message.non-delivery' | 'delivery.undeliverable' | 'retention.review-due' | 'message.corrected'

export interface NewNotification {
  type: NotificationType
  agencies: string[]
  exchangeId?: string
  messageId?: string
  details: Record<string, string | number | boolean | null>
}

/**
 * Stores one notification per agency, inside the caller's transaction. Returns the ids to push
 * (push agencies only); the caller enqueues them after commit, or the reconciler does later.
 */
export async function createNotifications (db: Queryable, directory: Directory, n: NewNotification, at: Date): Promise<string[]> {
  const toPush: string[] = []
  for (const agency of new Set(n.agencies)) {
    const id = randomUUID()
    const push = directory.agencies.get(agency)?.delivery.mode === 'push'
    await insertNotification(db, { id, agency, type: n.type, exchangeId: n.exchangeId ?? null, messageId: n.messageId ?? null, at, details: n.details, push })
    if (push) toPush.push(id)
  }
  return toPush
}

/** Enqueues pushes after commit; a failure here only delays them until the reconciler runs. */
export async function enqueuePushes (queue: DeliveryQueue, ids: string[], log: { warn(obj: object, msg: string): void }): Promise<void> {
  for (const id of ids) {
    await queue.enqueueNotification(id).catch((err: unknown) => log.warn({ err, notificationId: id }, 'notification enqueue failed; the reconciler will retry'))
  }
}

function bodyOf (row: NotificationRow): NotificationBody {
  return {
    id: row.id, type: row.type, agency: row.agency, exchangeId: row.exchange_id, messageId: row.message_id,
    createdAt: row.created_at.toISOString(), details: row.details,
  }
}

/** Pushing a notification needs what delivering a message needs. */
export type PushDeps = DeliveryDeps

/**
 * Pushes one notification to its agency's webhook and records the outcome. Returns the delay
 * before the next try, or undefined when there is nothing more to do (pushed, not a push
 * agency, or the agency's delivery budget is spent: it stays listed for the agency to fetch).
 */
export async function pushNotification (deps: PushDeps, id: string): Promise<number | undefined> {
  const row = await findNotification(deps.pool, id)
  if (!row || row.push_status !== 'pending') return undefined
  const agency = deps.directory.agencies.get(row.agency)
  const webhook = agency?.delivery.mode === 'push' ? agency.delivery.webhook : undefined
  const body = signNotification(bodyOf(row), deps.brokerKey)
  const outcome = webhook
    ? await postWebhook(deps.agent, webhook, body, {
      'content-type': 'application/jose',
      'leix-notification-id': row.id,
      'leix-notification-type': row.type,
    }, deps.config.deliveryTimeoutMs)
    : { ok: false, permanent: true, error: 'the agency no longer receives by push' }
  const now = deps.clock.now()
  return withTransaction(deps.pool, async (client) => {
    const current = await lockNotification(client, id)
    if (!current || current.push_status !== 'pending') return undefined
    const attempts = current.push_attempts + 1
    if (outcome.ok) {
      await markPushed(client, id, attempts, now)
      return undefined
    }
    const next = outcome.permanent
      ? null
      : nextAttemptAt(budgetFor(deps.config, agency), { attemptsInBudget: attempts, budgetFrom: current.push_budget_from ?? current.created_at, now })
    await markPushFailed(client, id, attempts, next, outcome.error ?? null)
    // Every hop has an event: a push that failed (and whether leix gives up on it) is recorded.
    await recordEvent(client, {
      type: 'notification.push-failed', actor: { kind: 'broker' }, agencies: [current.agency],
      ...(current.exchange_id ? { exchangeId: current.exchange_id } : {}), ...(current.message_id ? { messageId: current.message_id } : {}),
      outcome: 'failed', reason: next ? 'retrying' : 'gave-up',
      details: {
        notificationId: id, notificationType: current.type, attempt: attempts, httpStatus: 'httpStatus' in outcome ? outcome.httpStatus ?? null : null,
        error: (outcome.error ?? 'failed').slice(0, 200), nextAttemptAt: next?.toISOString() ?? null,
      },
    }, now)
    return next ? Math.max(0, next.getTime() - now.getTime()) : undefined
  })
}

export interface NotificationView extends NotificationBody {
  seq: number
  push: { status: 'pending' | 'delivered' | 'failed'; attempts: number; pushedAt: string | null } | null
}

/**
 * The agency's notifications in the order they were made, after `after` (the `seq` of the last
 * one already seen), so that a system can poll with the cursor it was given.
 * @param limit 1..200 @defaultValue 50
 */
export async function listNotifications (db: Queryable, agency: string, o: { after?: number; limit?: number }): Promise<{ items: NotificationView[]; nextCursor: number | null }> {
  const limit = Math.min(Math.max(o.limit ?? 50, 1), 200)
  const rows = await notificationsAfter(db, agency, o.after ?? 0, limit)
  const items = rows.map((r) => ({
    seq: r.seq,
    ...bodyOf(r),
    push: r.push_status ? { status: r.push_status, attempts: r.push_attempts, pushedAt: r.pushed_at?.toISOString() ?? null } : null,
  }))
  const last = rows[rows.length - 1]
  return { items, nextCursor: last ? last.seq : (o.after ?? null) }
}
