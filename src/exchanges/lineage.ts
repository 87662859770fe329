// Where passed-on data came from and where it went (D6, Q3): the store's side of the onward-use
// check (read before intake's commit, judged by the pure src/policy/onward.ts), what a message
// records of its origins and consents, the lineage of a message, and the correction that reaches
// every agency that got data derived from the corrected message.
import { recordEvent, type AuditActor } from '../audit/record.ts'
import { createNotifications } from '../delivery/notifications.ts'
import { messageFacts } from '../delivery/messages-repository.ts'
import type { Directory } from '../directory/types.ts'
import { DomainError } from '../errors.ts'
import type { Message } from '../intake/message.ts'
import { checkOnwardUse, originMessageIds, type OriginFacts, type OriginLookup } from '../policy/onward.ts'
import type { Client, Queryable } from '../store/db.ts'
import type { SqlPart } from '../store/statement.ts'
import { consentsFor, derivedLinks, insertConsents, insertOrigins, type NewConsent } from './lineage-repository.ts'

/** Message states in which its recipient has it: in its inbox, pushed, or waiting in its inbox after failed pushes. */
const RECEIVED = new Set(['accepted', 'delivered', 'undeliverable'])
/** States in which the recipient never got the message (D4: it does not exist for it). */
const HIDDEN = new Set(['held', 'rejected'])

/**
 * The pre-commit read of D6: what leix knows of each origin message, seen from the message's
 * sender. Only messages the sender received answer with their provider, handling code and
 * consents; anything else reads as not received, so the answer reveals nothing about other
 * agencies' messages. No query at all for a message without leix origins.
 */
export async function readOriginFacts (db: Queryable, message: Message): Promise<OriginLookup> {
  const ids = originMessageIds(message)
  const lookup = new Map<string, OriginFacts>()
  if (ids.length === 0) return lookup
  const holder = message.from.agency
  const rows = (await messageFacts(db, ids)).filter((m) => m.recipient === holder && RECEIVED.has(m.status))
  const consents = await consentsFor(db, holder, rows.map((m) => m.id))
  // A consent reply held or rejected by review has not reached the holder: it grants nothing yet.
  const replies = await messageFacts(db, [...new Set(consents.flatMap((c) => (c.consent_message_id ? [c.consent_message_id] : [])))])
  const hidden = new Set(replies.filter((m) => HIDDEN.has(m.status)).map((m) => m.id))
  for (const m of rows) {
    lookup.set(m.id, {
      received: true, provider: m.sender, handlingCode: m.handling_code,
      consents: consents.filter((c) => c.message_id === m.id && (c.consent_message_id === null || !hidden.has(c.consent_message_id)))
        .map((c) => ({ use: c.use, recipient: c.recipient, granted: c.granted, consentMessage: c.consent_message_id })),
    })
  }
  return lookup
}

/**
 * Intake's pre-commit step for D6 and L5's prior authorisation: reads the origin messages and
 * refuses (`consent-required`) a message that passes on received data without its provider's
 * consent or names an origin its sender did not receive. The decision is the pure `checkOnwardUse`.
 */
export async function checkOnward (db: Queryable, message: Message, directory: Directory): Promise<void> {
  if (message.origin === undefined && message.use === undefined) return
  const violations = checkOnwardUse(message, await readOriginFacts(db, message), directory)
  if (violations.length > 0) {
    throw new DomainError('consent-required', `the message passes on received data without its provider's consent (${[...new Set(violations.map((v) => v.rule))].join(', ')})`, { violations })
  }
}

/** A consent reply's subject: the message asked about and the agency that asked (the holder). */
export interface ConsentSubject {
  messageId: string
  holder: string
}

/**
 * What a message records beside itself, as parts of intake's commit: its origins (for lineage),
 * the standing consent of its handling conditions (holder: its recipient), and the decisions of a
 * consent reply (`subject`: from its consent-request). Empty for most messages.
 */
export function onwardParts (message: Message, at: Date, subject?: ConsentSubject): [string, SqlPart][] {
  const parts: [string, SqlPart][] = []
  if (message.origin !== undefined && message.origin.length > 0) {
    parts.push(['origins', insertOrigins(message.id, message.origin.map((o) => ({ agency: o.agency, ...(o.messageId ? { messageId: o.messageId.toLowerCase() } : {}) })))])
  }
  const consents: NewConsent[] = []
  const standing = message.handling.consent
  if (standing !== undefined) {
    const base = { messageId: message.id, holder: message.to.agency, granted: true, consentMessageId: null }
    for (const to of new Set(standing.onwardTo ?? [])) consents.push({ ...base, use: 'onward-transfer', recipient: to })
    if (standing.evidence === true) consents.push({ ...base, use: 'evidence', recipient: null })
    if (standing.otherPurpose === true) consents.push({ ...base, use: 'other-purpose', recipient: null })
  }
  if (message.kind === 'consent' && message.consent !== undefined && subject !== undefined) {
    const base = { messageId: subject.messageId, holder: subject.holder, consentMessageId: message.id }
    for (const d of message.consent.decisions) {
      if (d.use === 'onward-transfer') for (const to of new Set(d.to ?? [])) consents.push({ ...base, use: d.use, recipient: to, granted: d.granted })
      else consents.push({ ...base, use: d.use, recipient: null, granted: d.granted })
    }
  }
  if (consents.length > 0) parts.push(['consents', insertConsents(consents, at)])
  return parts
}

/** One message that carried data derived from the root, as lineage shows it. */
export interface DerivedMessage {
  messageId: string
  exchangeId: string
  kind: string
  sender: string
  recipient: string
  status: string
  receivedAt: string
  /** The origin it named on the way from the root (the root itself at depth 1). */
  origin: string
  depth: number
}

/** Messages derived from `root` that reached their recipient, nearest first (Q3). */
export async function derivedMessages (db: Queryable, root: string): Promise<DerivedMessage[]> {
  const links = await derivedLinks(db, root)
  const facts = new Map((await messageFacts(db, links.map((l) => l.message_id))).map((m) => [m.id, m]))
  return links.flatMap((l) => {
    const m = facts.get(l.message_id)
    if (!m || HIDDEN.has(m.status)) return []
    return [{
      messageId: m.id, exchangeId: m.exchange_id, kind: m.kind, sender: m.sender, recipient: m.recipient, status: m.status,
      receivedAt: m.received_at.toISOString(), origin: l.origin_message_id, depth: l.depth,
    }]
  }).sort((a, b) => a.depth - b.depth || a.receivedAt.localeCompare(b.receivedAt) || a.messageId.localeCompare(b.messageId))
}

/** The lineage of a message: the root and every message and exchange that carried data derived from it. */
export interface Lineage {
  messageId: string
  exchangeId: string
  provider: string
  derived: DerivedMessage[]
  /** The exchanges that carried derived data, once each. */
  exchanges: string[]
}

/**
 * "Which exchanges carried data derived from message X" (Q3), for the provider of X (its sender's
 * agency, `agency`) or a supervisor (`agency` undefined). Anyone else gets the not-found of a
 * message that does not exist. The caller records the read.
 */
export async function lineageOf (db: Queryable, messageId: string, agency: string | undefined): Promise<Lineage> {
  const [root] = await messageFacts(db, [messageId])
  if (!root || (agency !== undefined && root.sender !== agency)) throw new DomainError('not-found', `no message ${messageId} sent by your agency`)
  const derived = await derivedMessages(db, root.id)
  return { messageId: root.id, exchangeId: root.exchange_id, provider: root.sender, derived, exchanges: [...new Set(derived.map((d) => d.exchangeId))] }
}

/**
 * Q3: a correction of message X reaches every agency that got X or data derived from it, not only
 * the counterpart (who gets the correction itself): each gets a `message.corrected` notification
 * naming the message it holds, and one `correction.propagated` event records who was told.
 * In the caller's transaction; returns the notification ids to push after commit.
 */
export async function propagateCorrection (
  client: Client,
  directory: Directory,
  c: { correction: Message; exchangeId: string; actor: AuditActor },
  at: Date
): Promise<string[]> {
  const corrected = c.correction.inReplyTo
  if (c.correction.kind !== 'correction' || corrected === undefined) return []
  const provider = c.correction.from.agency
  // X's own recipient is the counterpart, who receives the correction itself.
  const derived = await derivedMessages(client, corrected)
  const told = new Set<string>()
  const push: string[] = []
  for (const m of derived) {
    // The provider corrects its own data; the counterpart receives the correction itself.
    if (m.recipient === provider || m.recipient === c.correction.to.agency) continue
    told.add(m.recipient)
    push.push(...await createNotifications(client, directory, {
      type: 'message.corrected', agencies: [m.recipient], exchangeId: m.exchangeId, messageId: m.messageId,
      details: { correctedMessageId: corrected, correctionMessageId: c.correction.id, depth: m.depth },
    }, at))
  }
  if (told.size > 0 || derived.length > 0) {
    await recordEvent(client, {
      type: 'correction.propagated', actor: c.actor, exchangeId: c.exchangeId, messageId: c.correction.id, agencies: [provider],
      recipients: [...told].sort().slice(0, 50), outcome: 'ok',
      details: { correctedMessageId: corrected, derivedMessages: derived.length, agenciesTold: told.size },
    }, at)
  }
  return push
}
