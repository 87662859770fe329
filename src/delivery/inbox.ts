import { recordEvent, type AuditActor } from '../audit/record.ts'
import { messageViewers } from '../exchanges/read.ts'
import { lockOpenedExchange } from '../exchanges/exchanges-repository.ts'
import { canTransition, changeStatus } from '../exchanges/state.ts'
import { DomainError } from '../errors.ts'
import { decodeCursor, encodeCursor } from '../store/cursor.ts'
import { withTransaction, type Client, type Pool } from '../store/db.ts'
import { messageEventBase } from './message-row.ts'
import { lockForAcknowledgement, lockInboxPage, markAcknowledged, recordFetch, type InboxRow } from './messages-repository.ts'

/**
 * The pull side of delivery: an agency lists the messages addressed to it that
 * it has not acknowledged yet, and acknowledges each. Push agencies may use it too, as a fallback
 * while their webhook is down; the push worker skips a message acknowledged meanwhile.
 */

export interface InboxItem {
  messageId: string
  exchangeId: string
  kind: string
  from: string
  to: string
  inReplyTo: string | null
  receivedAt: string
  /** `accepted` (not yet delivered) or `undeliverable` (push failed; still yours to fetch). */
  status: string
  /** base64url SHA-256 of `jws`. */
  digest: string
  /** The sender's original compact JWS: verify it with the sender's keys from `/v1/agencies`. Null once erased. */
  jws: string | null
  /** How many times this message was pushed or fetched before, including this fetch. */
  attempt: number
}

/**
 * A page of the agency's undelivered messages, oldest first. Handing a message out is a
 * disclosure (rule A1): each fetch is a `deliveries` row (outcome `fetched`) and a
 * `delivery.attempted` event; only the acknowledgement makes it delivered.
 * @param limit 1..100 @defaultValue 20
 */
export async function listInbox (pool: Pool, agency: string, o: { limit?: number; cursor?: string; actor: AuditActor; now: Date }): Promise<{ items: InboxItem[]; nextCursor: string | null }> {
  const limit = Math.min(Math.max(o.limit ?? 20, 1), 100)
  const after = o.cursor ? decodeCursor(o.cursor) : undefined
  return withTransaction(pool, async (client) => {
    const rows = await lockInboxPage(client, agency, limit + 1, after)
    const page = rows.slice(0, limit)
    for (const m of page) {
      m.attempts += 1
      await recordFetch(client, m.id, m.attempts, o.now)
      await recordEvent(client, {
        ...messageEventBase(m, o.actor), type: 'delivery.attempted', recipients: [m.recipient], outcome: 'ok', details: { attempt: m.attempts, mode: 'pull' },
      }, o.now)
    }
    const last = page[page.length - 1]
    return {
      items: page.map((m) => ({
        messageId: m.id, exchangeId: m.exchange_id, kind: m.kind, from: m.sender, to: m.recipient, inReplyTo: m.in_reply_to,
        receivedAt: m.received_at.toISOString(), status: m.status, digest: m.digest, jws: m.jws, attempt: m.attempts,
      })),
      nextCursor: rows.length > limit && last ? encodeCursor(last.received_at, last.id) : null,
    }
  })
}

export interface AckResult {
  messageId: string
  exchangeId: string
  status: 'acknowledged'
  deliveredAt: string
  acknowledgedAt: string
}

/**
 * The recipient acknowledges a message: it is delivered (if no push got through yet) and
 * acknowledged, and an opening message moves its exchange to `acknowledged`. Idempotent: a
 * second acknowledgement answers the first. Only the recipient agency can acknowledge; anyone
 * else, and messages it never received (held, rejected by review), get 404.
 */
export async function acknowledge (pool: Pool, agency: string, messageId: string, o: { actor: AuditActor; now: Date }): Promise<AckResult> {
  const result = await withTransaction(pool, async (client): Promise<AckResult | { denied: InboxRow }> => {
    const m = await lockForAcknowledgement(client, messageId)
    if (m && m.recipient !== agency) return { denied: m }
    if (!m || !['accepted', 'undeliverable', 'delivered', 'acknowledged'].includes(m.status)) {
      throw new DomainError('not-found', `no message ${messageId} in the inbox of ${agency}`)
    }
    if (m.status === 'acknowledged' && m.acknowledged_at) {
      return { messageId: m.id, exchangeId: m.exchange_id, status: 'acknowledged', deliveredAt: (m.delivered_at ?? m.acknowledged_at).toISOString(), acknowledgedAt: m.acknowledged_at.toISOString() }
    }
    const common = messageEventBase(m, o.actor)
    const firstDelivery = m.delivered_at === null
    await markAcknowledged(client, m.id, o.now)
    if (firstDelivery) await recordEvent(client, { ...common, type: 'delivery.succeeded', outcome: 'ok', recipients: [m.recipient], details: { mode: 'pull' } }, o.now)
    await recordEvent(client, { ...common, type: 'message.acknowledged', outcome: 'ok', details: { kind: m.kind } }, o.now)
    await followOpening(client, m.id, m.exchange_id, firstDelivery, o.now)
    return { messageId: m.id, exchangeId: m.exchange_id, status: 'acknowledged', deliveredAt: (m.delivered_at ?? o.now).toISOString(), acknowledgedAt: o.now.toISOString() }
  })
  if ('denied' in result) {
    // Recorded outside the transaction, which answers with an error: the denial must stay logged (A2).
    const m = result.denied
    await recordEvent(pool, {
      type: 'access.denied', actor: o.actor, exchangeId: m.exchange_id, messageId: m.id,
      agencies: messageViewers(m),
      outcome: 'denied', reason: 'not-the-recipient', details: { resource: 'inbox-ack' },
    }, o.now)
    // The same answer as for an unknown id: another agency learns nothing.
    throw new DomainError('not-found', `no message ${messageId} in the inbox of ${agency}`)
  }
  return result
}

/** An acknowledged opening message moves its exchange: delivered (if not yet), then acknowledged. */
async function followOpening (client: Client, messageId: string, exchangeId: string, firstDelivery: boolean, at: Date): Promise<void> {
  const exchange = await lockOpenedExchange(client, exchangeId, messageId)
  if (!exchange) return
  if (firstDelivery && canTransition(exchange.status, 'delivered')) await changeStatus(client, exchange, 'delivered', at)
  if (canTransition(exchange.status, 'acknowledged')) await changeStatus(client, exchange, 'acknowledged', at)
}
