import { recordEvent, type AuditActor } from '../audit/record.ts'
import { messageViewers } from '../exchanges/read.ts'
import { changeStatus } from '../exchanges/record.ts'
import { lockOpenedExchange } from './deliver.ts'
import { canTransition } from '../exchanges/state.ts'
import { DomainError } from '../errors.ts'
import { decodeCursor, encodeCursor } from '../store/cursor.ts'
import { withTransaction, type Client, type Pool } from '../store/db.ts'

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

interface InboxRow {
  id: string
  exchange_id: string
  kind: string
  sender: string
  recipient: string
  in_reply_to: string | null
  received_at: Date
  status: string
  digest: string
  jws: string | null
  attempts: number
  legal_basis: string
}

/**
 * A page of the agency's undelivered messages, oldest first. Handing a message out is a
 * disclosure (rule A1): each fetch is a `deliveries` row (outcome `fetched`) and a
 * `delivery.attempted` event; only the acknowledgement makes it delivered.
 * @param limit 1..100 @defaultValue 20
 */
export async function listInbox(pool: Pool, agency: string, o: { limit?: number; cursor?: string; actor: AuditActor; now: Date }): Promise<{ items: InboxItem[]; nextCursor: string | null }> {
  const limit = Math.min(Math.max(o.limit ?? 20, 1), 100)
  const params: unknown[] = [agency]
  let after = ''
  if (o.cursor) {
    const [at, id] = decodeCursor(o.cursor)
    params.push(at, id)
    after = 'AND (received_at, id) > ($2::timestamptz, $3::uuid)'
  }
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query<InboxRow>(
      `SELECT id, exchange_id, kind, sender, recipient, in_reply_to, received_at, status, digest, jws, attempts, legal_basis
         FROM messages WHERE recipient = $1 AND status IN ('accepted', 'undeliverable') ${after}
        ORDER BY received_at, id LIMIT ${limit + 1} FOR UPDATE`,
      params,
    )
    const page = rows.slice(0, limit)
    for (const m of page) {
      m.attempts += 1
      await client.query(
        `INSERT INTO deliveries (message_id, attempt, started_at, ended_at, outcome) VALUES ($1, $2, $3, $3, 'fetched')`,
        [m.id, m.attempts, o.now],
      )
      await client.query('UPDATE messages SET attempts = $2, updated_at = $3 WHERE id = $1', [m.id, m.attempts, o.now])
      await recordEvent(client, {
        type: 'delivery.attempted', actor: o.actor, exchangeId: m.exchange_id, messageId: m.id, agencies: [m.sender, m.recipient],
        recipients: [m.recipient], legalBasis: m.legal_basis, digest: m.digest, outcome: 'ok', details: { attempt: m.attempts, mode: 'pull' },
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
export async function acknowledge(pool: Pool, agency: string, messageId: string, o: { actor: AuditActor; now: Date }): Promise<AckResult> {
  const result = await withTransaction(pool, async (client): Promise<AckResult | { denied: InboxRow }> => {
    const { rows } = await client.query<InboxRow & { delivered_at: Date | null; acknowledged_at: Date | null }>(
      `SELECT id, exchange_id, kind, sender, recipient, status, digest, legal_basis, delivered_at, acknowledged_at
         FROM messages WHERE id = $1 FOR UPDATE`,
      [messageId],
    )
    const m = rows[0]
    if (m && m.recipient !== agency) return { denied: m }
    if (!m || !['accepted', 'undeliverable', 'delivered', 'acknowledged'].includes(m.status)) {
      throw new DomainError('not-found', `no message ${messageId} in the inbox of ${agency}`)
    }
    if (m.status === 'acknowledged' && m.acknowledged_at) {
      return { messageId: m.id, exchangeId: m.exchange_id, status: 'acknowledged', deliveredAt: (m.delivered_at ?? m.acknowledged_at).toISOString(), acknowledgedAt: m.acknowledged_at.toISOString() }
    }
    const common = { actor: o.actor, exchangeId: m.exchange_id, messageId: m.id, agencies: [m.sender, m.recipient], legalBasis: m.legal_basis, digest: m.digest }
    const firstDelivery = m.delivered_at === null
    await client.query(
      `UPDATE messages SET status = 'acknowledged', delivered_at = COALESCE(delivered_at, $2), acknowledged_at = $2, next_attempt_at = NULL, updated_at = $2 WHERE id = $1`,
      [m.id, o.now],
    )
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
async function followOpening(client: Client, messageId: string, exchangeId: string, firstDelivery: boolean, at: Date): Promise<void> {
  const exchange = await lockOpenedExchange(client, exchangeId, messageId)
  if (!exchange) return
  if (firstDelivery && canTransition(exchange.status, 'delivered')) await changeStatus(client, exchange, 'delivered', at)
  if (canTransition(exchange.status, 'acknowledged')) await changeStatus(client, exchange, 'acknowledged', at)
}
