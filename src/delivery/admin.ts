import { storeJustification, type JustificationInput } from '../audit/justification.ts'
import { recordEvent, type AuditActor } from '../audit/record.ts'
import type { Directory } from '../directory/types.ts'
import { messageViewers } from '../exchanges/read.ts'
import { lockExchange } from '../exchanges/exchanges-repository.ts'
import { applyReplyEffects } from '../exchanges/record.ts'
import { propagateCorrection } from '../exchanges/lineage.ts'
import { changeStatus } from '../exchanges/state.ts'
import { DomainError } from '../errors.ts'
import { transferDetails } from '../policy/legal.ts'
import { instrumentsReviewedBy, reviewAuthority } from '../policy/index.ts'
import type { Message } from '../intake/message.ts'
import { jwsPayload } from '../intake/jws.ts'
import { withTransaction, type Pool, type Queryable } from '../store/db.ts'
import { messageEventBase } from './message-row.ts'
import { heldBy, lockMessage, markRejected, restartDelivery, type MessageRow } from './messages-repository.ts'

/** Decisions on single messages by a person: an admin's redelivery, a DPO's review of a held message. */

/** A refusal to act on a message: logged outside the refused transaction (A2), answered like an unknown id. */
class Denied extends Error {
  constructor (readonly m: MessageRow) {
    super('denied')
  }
}

async function denying<T> (pool: Pool, actor: AuditActor & { agency: string }, resource: string, at: Date, notFound: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (!(err instanceof Denied)) throw err
    const { m } = err
    // Listed for the agencies that may know the message, not for the caller (no existence oracle).
    await recordEvent(pool, {
      type: 'access.denied', actor, exchangeId: m.exchange_id, messageId: m.id, agencies: messageViewers(m),
      outcome: 'denied', reason: 'not-a-party', details: { resource },
    }, at)
    throw new DomainError('not-found', notFound)
  }
}

export interface RedeliverResult {
  messageId: string
  status: 'accepted'
  previousStatus: string
  nextAttemptAt: string
}

/**
 * Sends an undeliverable (or still retrying) message again with a fresh budget: attempts within
 * the budget start from zero and the time budget from now; `attempts` and the `deliveries` rows
 * keep the whole history. An opening message takes its exchange back from `undeliverable` to
 * `accepted`. Either agency of the message may ask (its admin); the caller enqueues after commit.
 */
export async function redeliver (pool: Pool, messageId: string, o: { actor: AuditActor & { agency: string }; justification?: JustificationInput; justificationRetentionDays?: number; now: Date }): Promise<RedeliverResult> {
  const notFound = `no message ${messageId} for ${o.actor.agency}`
  return denying(pool, o.actor, 'redeliver', o.now, notFound, () => withTransaction(pool, async (client) => {
    const m = await lockMessage(client, messageId)
    if (!m) throw new DomainError('not-found', notFound)
    // A message held for review (or rejected by it) does not exist for its recipient (D4).
    const hidden = m.status === 'held' || m.status === 'rejected'
    if (m.sender !== o.actor.agency && (m.recipient !== o.actor.agency || hidden)) throw new Denied(m)
    if (m.status !== 'undeliverable' && m.status !== 'accepted') {
      throw new DomainError('invalid-message-state', `message ${m.id} is ${m.status}; only an undeliverable or not yet delivered message can be redelivered`, {
        extra: { messageStatus: m.status },
      })
    }
    await restartDelivery(client, m.id, o.now)
    const justification = o.justification ? await storeJustification(client, o.justification, o.now, o.justificationRetentionDays) : undefined
    await recordEvent(client, {
      ...messageEventBase(m, o.actor), type: 'delivery.redelivery-requested', outcome: 'ok', ...(justification ? { justification } : {}),
      details: { previousStatus: m.status, attemptsSoFar: m.attempts },
    }, o.now)
    const exchange = await lockExchange(client, m.exchange_id)
    if (exchange && exchange.opened_by === m.id && exchange.status === 'undeliverable') await changeStatus(client, exchange, 'redeliver', o.now)
    return { messageId: m.id, status: 'accepted' as const, previousStatus: m.status, nextAttemptAt: o.now.toISOString() }
  }))
}

export interface ReviewResult {
  messageId: string
  exchangeId: string
  decision: 'release' | 'reject'
  status: 'accepted' | 'rejected'
  exchangeStatus: string
}

/**
 * A data-protection officer of the sending agency decides on a message held for review (D3-D5).
 * The sender's DPO decides because the disclosure is the sender's; the recipient is not asked,
 * and is not told of a rejection, since even that could reveal the person (D4).
 * - release: the message becomes deliverable now (`accepted_at`, a fresh delivery budget) and is
 *   logged as accepted, like at intake; an opening message releases its exchange (its deadline
 *   moves on by the time spent in review, since the responder could not see it meanwhile); a
 *   held reply now has its effect on the exchange (`applyReplyEffects`), which the state machine
 *   may refuse (409 invalid-transition) if the exchange has moved on.
 * - reject: the message is never delivered; an opening message closes its exchange.
 * The caller enqueues a released message after commit.
 */
export async function review (
  pool: Pool,
  directory: Directory,
  messageId: string,
  o: { actor: AuditActor & { agency: string }; decision: 'release' | 'reject'; justification: JustificationInput; justificationRetentionDays?: number; now: Date }
): Promise<ReviewResult> {
  const notFound = `no message ${messageId} sent by ${o.actor.agency}`
  return denying(pool, o.actor, 'review', o.now, notFound, () => withTransaction(pool, async (client): Promise<ReviewResult> => {
    const m = await lockMessage(client, messageId)
    if (!m) throw new DomainError('not-found', notFound)
    // D4: the review body (or, without one, the sender's DPO) decides; the sender may withdraw.
    const may = reviewAuthority(directory, { sender: m.sender, legalBasis: m.legal_basis }, o.actor.agency)
    if (may === null) throw new Denied(m)
    if (m.status === 'held' && !may[o.decision]) {
      throw new DomainError('forbidden', `message ${m.id} is released by the DPO of its review body, not by the sender's alone; the sender may reject it`)
    }
    if (m.status !== 'held') throw new DomainError('invalid-message-state', `message ${m.id} is ${m.status}, not held for review`, { extra: { messageStatus: m.status } })
    const exchange = await lockExchange(client, m.exchange_id)
    if (!exchange) throw new DomainError('not-found', `the exchange of message ${m.id} is gone`)
    const opening = exchange.opened_by === m.id
    const holds = [...new Set((m.holds ?? []).map((h) => h.rule))].join(',')
    // Every event of a review names its agencies itself: the recipient may not learn of it (D4).
    const common = messageEventBase(m, o.actor, [m.sender])
    // The reason as written goes to the erasable store; the sealed event keeps its code and hash (A3).
    const justification = await storeJustification(client, o.justification, o.now, o.justificationRetentionDays)

    if (o.decision === 'reject') {
      await markRejected(client, m.id, o.now)
      if (opening) {
        await changeStatus(client, exchange, 'reject', o.now)
        // The sender's side only: the recipient never learns of a message rejected in review (D4).
        await recordEvent(client, {
          ...common, type: 'exchange.closed', agencies: [m.sender], outcome: 'ok', reason: 'review-rejected', details: { by: 'review', previousStatus: 'held' },
        }, o.now)
      }
      await recordEvent(client, {
        ...common, type: 'review.decided', agencies: [...new Set([m.sender, o.actor.agency])], outcome: 'rejected', reason: holds || 'review', justification,
        details: { decision: 'reject', authority: may.authority },
      }, o.now)
      return { messageId: m.id, exchangeId: m.exchange_id, decision: 'reject', status: 'rejected', exchangeStatus: exchange.status }
    }

    if (!m.jws) throw new DomainError('invalid-message-state', `the payload of message ${m.id} has been erased; it cannot be released`)
    const message = { ...(jwsPayload(m.jws) as Message), id: m.id }
    const instrument = directory.instruments.get(m.legal_basis)
    if (!instrument) throw new DomainError('invalid-message-state', `legal instrument ${m.legal_basis} is no longer in the directory`)
    let deadline = exchange.deadline
    if (opening) {
      const heldMs = o.now.getTime() - m.received_at.getTime()
      deadline = exchange.deadline ? new Date(exchange.deadline.getTime() + heldMs) : null
      await changeStatus(client, exchange, 'release', o.now, { set: deadline ? { deadline } : {} })
    } else {
      deadline = await applyReplyEffects(client, exchange, message, o.now, o.actor)
      // Q3: a released correction reaches every agency holding derived data (pushed by the reconciler).
      await propagateCorrection(client, directory, { correction: message, exchangeId: exchange.id, actor: o.actor }, o.now)
    }
    await restartDelivery(client, m.id, o.now, { released: true })
    await recordEvent(client, {
      // The sender's record: the recipient never learns that, or why, the message was held (D4).
      ...common, type: 'review.decided', agencies: [...new Set([m.sender, o.actor.agency])], outcome: 'ok', reason: holds || 'review', justification,
      details: { decision: 'release', authority: may.authority },
    }, o.now)
    await recordEvent(client, {
      ...common, type: 'message.accepted', agencies: [m.sender, m.recipient], outcome: 'ok', recipients: [m.recipient], purpose: message.crimeAreas,
      details: {
        kind: m.kind, deadline: deadline?.toISOString() ?? null, classification: message.handling.classification, handling: message.handling.code,
        ...transferDetails(message, directory),
      },
    }, o.now)
    return { messageId: m.id, exchangeId: m.exchange_id, decision: 'release', status: 'accepted', exchangeStatus: exchange.status }
  }))
}

export interface HeldMessage {
  messageId: string
  exchangeId: string
  kind: string
  to: string
  officer: string
  receivedAt: string
  holds: { rule: string; path: string; message: string }[]
  from: string
  /** What the caller's DPO may decide on it (D4: the review body releases; the sender may reject). */
  mayRelease: boolean
  mayReject: boolean
}

/** Held messages the agency's DPO may decide on (its own, and those of instruments it reviews), oldest first. */
export async function listHeld (db: Queryable, directory: Directory, agency: string, limit = 100): Promise<HeldMessage[]> {
  const rows = await heldBy(db, agency, Math.min(Math.max(limit, 1), 500), instrumentsReviewedBy(directory, agency))
  return rows.map((r) => {
    const may = reviewAuthority(directory, { sender: r.sender, legalBasis: r.legal_basis }, agency)
    return {
      messageId: r.id, exchangeId: r.exchange_id, kind: r.kind, from: r.sender, to: r.recipient, officer: r.officer,
      receivedAt: r.received_at.toISOString(), holds: r.holds ?? [], mayRelease: may?.release ?? false, mayReject: may?.reject ?? false,
    }
  })
}
