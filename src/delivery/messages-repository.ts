// The one module with SQL for `messages` and `deliveries` (a message's push attempts and inbox
// fetches, never written without their message). Other modules call these functions; a statement
// that also changes another table is composed by its caller from parts (store/statement.ts).
import type { Client, Queryable } from '../store/db.ts'
import type { RowsInsert, SqlPart } from '../store/statement.ts'

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

const MESSAGE_COLUMNS = `id, exchange_id, kind, sender, recipient, status, digest, jws, legal_basis, attempts, budget_attempts, next_attempt_at,
            delivery_budget_from, received_at, delivered_at, holds`

/** What intake stores for an accepted or held message. */
export interface NewMessage {
  id: string
  exchangeId: string
  kind: string
  sender: string
  recipient: string
  officer: string
  inReplyTo: string | null
  kid: string
  digest: string
  jws: string
  createdAt: string
  receivedAt: Date
  status: 'accepted' | 'held'
  classification: string
  handlingCode: string
  legalBasis: string
  eraseBy: string | null
  reviewBy: string | null
  /** The holds (D3-D5), or null. */
  holds: MessageRow['holds']
  receipt: string
  /** When delivery is due: now for an accepted message, null while held. */
  nextAttemptAt: Date | null
}

/** The INSERT of a new message, as a part of intake's one-statement commit. */
export function insertMessage (m: NewMessage): RowsInsert {
  return {
    table: 'messages',
    rows: [{
      id: m.id, exchange_id: m.exchangeId, kind: m.kind, sender: m.sender, recipient: m.recipient, officer: m.officer, in_reply_to: m.inReplyTo,
      kid: m.kid, digest: m.digest, jws: m.jws, created_at: m.createdAt, received_at: m.receivedAt, status: m.status, classification: m.classification,
      handling_code: m.handlingCode, legal_basis: m.legalBasis, erase_by: m.eraseBy, review_by: m.reviewBy,
      holds: m.holds, receipt: m.receipt, next_attempt_at: m.nextAttemptAt,
    }],
    sql: (param) => `INSERT INTO messages (id, exchange_id, kind, sender, recipient, officer, in_reply_to, kid, digest, jws,
       created_at, received_at, status, classification, handling_code, legal_basis, erase_by, review_by, holds, receipt, next_attempt_at,
       delivery_budget_from, updated_at)
     SELECT id, exchange_id, kind, sender, recipient, officer, in_reply_to, kid, digest, jws,
       created_at, received_at, status, classification, handling_code, legal_basis, erase_by, review_by, holds, receipt, next_attempt_at,
       received_at, received_at
       FROM jsonb_to_recordset(${param}::jsonb) AS r(id uuid, exchange_id uuid, kind text, sender text, recipient text, officer text, in_reply_to uuid,
         kid text, digest text, jws text, created_at timestamptz, received_at timestamptz, status text, classification text, handling_code text,
         legal_basis text, erase_by timestamptz, review_by timestamptz, holds jsonb, receipt text, next_attempt_at timestamptz)`,
  }
}

/**
 * SQL condition: the message `idColumn` names is hidden from its recipient (held for review, or
 * rejected by it; D4). For the exchanges repository, whose reads hide an exchange opened by one.
 */
export function hiddenFromRecipient (idColumn: string): string {
  return `EXISTS (SELECT 1 FROM messages om WHERE om.id = ${idColumn} AND om.status IN ('held', 'rejected'))`
}

/** Locks a message row for a state change in the caller's transaction. */
export async function lockMessage (client: Client, id: string): Promise<MessageRow | undefined> {
  const { rows } = await client.query<MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = $1 FOR UPDATE`, [id])
  return rows[0]
}

/** The message a reply names: its exchange, parties and status. */
export async function findReplyParent (db: Queryable, id: string): Promise<ReplyParent | undefined> {
  const { rows } = await db.query<ReplyParent>(
    'SELECT exchange_id, sender, recipient, status, kind, in_reply_to FROM messages WHERE id = $1', [id])
  return rows[0]
}

/** The message a reply names: its exchange, ends and state; its own kind and parent (D6 consent pairs). */
export interface ReplyParent {
  exchange_id: string
  sender: string
  recipient: string
  status: string
  kind: string
  in_reply_to: string | null
}

/** A message's metadata for the D6 origin check and lineage (Q3); no payload. */
export type MessageFacts = Pick<MessageRow, 'id' | 'exchange_id' | 'kind' | 'sender' | 'recipient' | 'status' | 'received_at'> & { handling_code: string }

/** The messages `ids` (absent ids are simply missing). */
export async function messageFacts (db: Queryable, ids: readonly string[]): Promise<MessageFacts[]> {
  if (ids.length === 0) return []
  const { rows } = await db.query<MessageFacts>(
    'SELECT id, exchange_id, kind, sender, recipient, status, handling_code, received_at FROM messages WHERE id = ANY($1::uuid[])', [ids])
  return rows
}

/**
 * When the requester received the responder's clarification question that paused exchange `exchangeId`
 * at `pausedAt` (pushed with a 2xx, or acknowledged from its inbox); null while it has not (T2 pause).
 */
export async function receivedByRequesterAt (db: Queryable, exchangeId: string, responder: string, pausedAt: Date): Promise<Date | null> {
  const { rows } = await db.query<{ delivered_at: Date | null }>(
    `SELECT delivered_at FROM messages WHERE exchange_id = $1 AND sender = $2 AND kind = 'clarification' AND received_at <= $3
      ORDER BY received_at DESC LIMIT 1`, [exchangeId, responder, pausedAt])
  return rows[0]?.delivered_at ?? null
}

/** What a resend is answered with: the stored digest, exchange and receipt of a message id. */
export async function findStoredResult (db: Queryable, id: string): Promise<{ digest: string; exchange_id: string; receipt: string } | undefined> {
  const { rows } = await db.query<{ digest: string; exchange_id: string; receipt: string }>(
    'SELECT digest, exchange_id, receipt FROM messages WHERE id = $1', [id])
  return rows[0]
}

/** A message as a consultation reads it: the body (JWS) and what its audit event names. */
export interface ConsultedMessage {
  id: string
  exchange_id: string
  sender: string
  recipient: string
  status: string
  jws: string | null
  erased_at: Date | null
  received_at: Date
  legal_basis: string
  digest: string
}

export async function findForConsultation (db: Queryable, id: string): Promise<ConsultedMessage | undefined> {
  const { rows } = await db.query<ConsultedMessage>(
    'SELECT id, exchange_id, sender, recipient, status, jws, erased_at, received_at, legal_basis, digest FROM messages WHERE id = $1', [id])
  return rows[0]
}

// ---- delivery attempts (push)

/**
 * The attempts of a message still open (no end). Read in a statement of its own after the lock:
 * under READ COMMITTED a `SELECT … FOR UPDATE` that waited re-reads the locked row but evaluates
 * subqueries against its earlier snapshot (see deliver.ts).
 */
export async function openAttempts (client: Client, messageId: string): Promise<{ attempt: number; started_at: Date }[]> {
  const { rows } = await client.query<{ attempt: number; started_at: Date }>(
    'SELECT attempt, started_at FROM deliveries WHERE message_id = $1 AND ended_at IS NULL ORDER BY attempt', [messageId])
  return rows
}

/** Ends an attempt whose worker stopped before it ended. */
export async function interruptAttempt (client: Client, messageId: string, attempt: number, at: Date): Promise<void> {
  await client.query(
    'UPDATE deliveries SET ended_at = $3, outcome = \'interrupted\', error = \'the worker stopped before the attempt ended\' WHERE message_id = $1 AND attempt = $2',
    [messageId, attempt, at]
  )
}

/** Part: the row of a new push attempt. */
export function startAttempt (messageId: string, attempt: number, at: Date): SqlPart {
  return (p) => `INSERT INTO deliveries (message_id, attempt, started_at) VALUES (${p.add(messageId)}, ${p.add(attempt)}, ${p.add(at)})`
}

/** Part: the message's attempt counters for a new push attempt (`attempt` is its number). */
export function countAttempt (messageId: string, attempt: number, at: Date): SqlPart {
  return (p) => `UPDATE messages SET attempts = ${p.add(attempt)}, budget_attempts = budget_attempts + 1, updated_at = ${p.add(at)} WHERE id = ${p.add(messageId)}`
}

/** Parts of a 2xx: lock the row (`lock`), then mark it delivered (`delivered`, returning the status it had as `was`). */
export function markDelivered (messageId: string, at: Date): { lock: SqlPart; delivered: (lock: string) => SqlPart } {
  return {
    lock: (p) => `SELECT id, status FROM messages WHERE id = ${p.add(messageId)} FOR UPDATE`,
    // Acknowledged through the inbox meanwhile: keeps its status.
    delivered: (lock) => (p) => {
      const now = p.add(at)
      return `UPDATE messages SET
              status = CASE WHEN ${lock}.status IN ('accepted', 'undeliverable') THEN 'delivered' ELSE messages.status END,
              next_attempt_at = CASE WHEN ${lock}.status IN ('accepted', 'undeliverable') THEN NULL ELSE messages.next_attempt_at END,
              delivered_at = COALESCE(messages.delivered_at, ${now}), updated_at = ${now}
            FROM ${lock} WHERE messages.id = ${lock}.id RETURNING ${lock}.status AS was`
    },
  }
}

/** Part: the attempt ended with a 2xx. */
export function attemptDelivered (messageId: string, attempt: number, at: Date, httpStatus: number | null): SqlPart {
  return (p) => `UPDATE deliveries SET ended_at = ${p.add(at)}, outcome = 'delivered', http_status = ${p.add(httpStatus)}, error = NULL
             WHERE message_id = ${p.add(messageId)} AND attempt = ${p.add(attempt)} AND ended_at IS NULL`
}

/** The attempt failed (still open: a late answer after an interruption changes nothing). */
export async function attemptFailed (client: Client, messageId: string, attempt: number, at: Date, httpStatus: number | null, error: string | null): Promise<void> {
  await client.query(
    'UPDATE deliveries SET ended_at = $3, outcome = \'failed\', http_status = $4, error = $5 WHERE message_id = $1 AND attempt = $2 AND ended_at IS NULL',
    [messageId, attempt, at, httpStatus, error]
  )
}

/** When the next push is due; null takes the message off the push schedule (it waits in the inbox). */
export async function scheduleNextAttempt (client: Client, id: string, next: Date | null, at: Date): Promise<void> {
  await client.query('UPDATE messages SET next_attempt_at = $2, updated_at = $3 WHERE id = $1', [id, next, at])
}

export async function markUndeliverable (client: Client, id: string, at: Date): Promise<void> {
  await client.query('UPDATE messages SET status = \'undeliverable\', next_attempt_at = NULL, updated_at = $2 WHERE id = $1', [id, at])
}

/** Messages due for a push after the keyset `after` (next attempt, id), in that order. */
export async function duePushesAfter (db: Queryable, after: [Date, string], limit: number): Promise<{ id: string; due: Date }[]> {
  const { rows } = await db.query<{ id: string; due: Date }>(
    `SELECT id, next_attempt_at AS due FROM messages
        WHERE status = 'accepted' AND next_attempt_at IS NOT NULL AND (next_attempt_at, id) > ($1, $2)
        ORDER BY next_attempt_at, id LIMIT ${limit}`,
    after
  )
  return rows
}

/** Makes the accepted messages waiting in the inboxes of `recipients` due for a push now. */
export async function scheduleInboxForPush (db: Queryable, recipients: string[], at: Date): Promise<void> {
  await db.query(
    `UPDATE messages SET next_attempt_at = $2, updated_at = $2
        WHERE status = 'accepted' AND next_attempt_at IS NULL AND recipient = ANY ($1::text[])`,
    [recipients, at]
  )
}

// ---- pull inbox

export interface InboxRow {
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

/** Locks up to `limit` undelivered messages of `recipient` after the keyset `after` (received at, id), oldest first. */
export async function lockInboxPage (client: Client, recipient: string, limit: number, after?: [string | Date, string]): Promise<InboxRow[]> {
  const params: unknown[] = [recipient]
  let keyset = ''
  if (after) {
    params.push(...after)
    keyset = 'AND (received_at, id) > ($2::timestamptz, $3::uuid)'
  }
  const { rows } = await client.query<InboxRow>(
    `SELECT id, exchange_id, kind, sender, recipient, in_reply_to, received_at, status, digest, jws, attempts, legal_basis
         FROM messages WHERE recipient = $1 AND status IN ('accepted', 'undeliverable') ${keyset}
        ORDER BY received_at, id LIMIT ${limit} FOR UPDATE`,
    params
  )
  return rows
}

/** A fetch from the inbox: an attempt row (outcome `fetched`) and the message's attempt count. */
export async function recordFetch (client: Client, messageId: string, attempt: number, at: Date): Promise<void> {
  await client.query(
    'INSERT INTO deliveries (message_id, attempt, started_at, ended_at, outcome) VALUES ($1, $2, $3, $3, \'fetched\')',
    [messageId, attempt, at]
  )
  await client.query('UPDATE messages SET attempts = $2, updated_at = $3 WHERE id = $1', [messageId, attempt, at])
}

/** Locks a message for its acknowledgement. */
export async function lockForAcknowledgement (client: Client, id: string): Promise<(InboxRow & { delivered_at: Date | null; acknowledged_at: Date | null }) | undefined> {
  const { rows } = await client.query<InboxRow & { delivered_at: Date | null; acknowledged_at: Date | null }>(
    `SELECT id, exchange_id, kind, sender, recipient, status, digest, legal_basis, delivered_at, acknowledged_at
         FROM messages WHERE id = $1 FOR UPDATE`,
    [id]
  )
  return rows[0]
}

export async function markAcknowledged (client: Client, id: string, at: Date): Promise<void> {
  await client.query(
    'UPDATE messages SET status = \'acknowledged\', delivered_at = COALESCE(delivered_at, $2), acknowledged_at = $2, next_attempt_at = NULL, updated_at = $2 WHERE id = $1',
    [id, at]
  )
}

// ---- review and redelivery

/** Accepted again with a fresh delivery budget from `at`, due now. */
export async function restartDelivery (client: Client, id: string, at: Date, o: { released?: boolean } = {}): Promise<void> {
  await client.query(
    `UPDATE messages SET status = 'accepted', ${o.released ? 'accepted_at = $2, ' : ''}budget_attempts = 0, delivery_budget_from = $2, next_attempt_at = $2, updated_at = $2 WHERE id = $1`,
    [id, at]
  )
}

export async function markRejected (client: Client, id: string, at: Date): Promise<void> {
  await client.query('UPDATE messages SET status = \'rejected\', next_attempt_at = NULL, updated_at = $2 WHERE id = $1', [id, at])
}

export interface HeldRow {
  id: string
  exchange_id: string
  kind: string
  sender: string
  legal_basis: string
  recipient: string
  officer: string
  received_at: Date
  holds: { rule: string; path: string; message: string }[] | null
}

/** Messages `sender` sent that are held for review, oldest first. */
export async function heldBy (db: Queryable, sender: string, limit: number, reviewedInstruments: string[] = []): Promise<HeldRow[]> {
  const { rows } = await db.query<HeldRow>(
    `SELECT id, exchange_id, kind, sender, recipient, officer, legal_basis, received_at, holds FROM messages
      WHERE (sender = $1 OR legal_basis = ANY($2::text[])) AND status = 'held' ORDER BY received_at, id LIMIT ${limit}`,
    [sender, reviewedInstruments]
  )
  return rows
}

// ---- deadlines (T5) and retention (D7)

export interface UndeliveredRow {
  id: string
  exchange_id: string
  sender: string
  recipient: string
  kind: string
  status: string
  attempts: number
  legal_basis: string
  digest: string
  /** When it became deliverable (accepted, or received). */
  since: Date
}

/** Locks (SKIP LOCKED) up to `limit` messages deliverable since `before` or earlier and not yet flagged non-delivered. */
export async function claimUndelivered (client: Client, before: Date, limit: number): Promise<UndeliveredRow[]> {
  const { rows } = await client.query<UndeliveredRow>(
    `SELECT id, exchange_id, sender, recipient, kind, status, attempts, legal_basis, digest, COALESCE(accepted_at, received_at) AS since
           FROM messages
          WHERE non_delivery_at IS NULL AND status IN ('accepted', 'undeliverable') AND received_at <= $1
            AND COALESCE(accepted_at, received_at) <= $1
          ORDER BY received_at LIMIT ${limit} FOR UPDATE SKIP LOCKED`,
    [before]
  )
  return rows
}

export async function markNonDelivery (client: Client, id: string, at: Date): Promise<void> {
  await client.query('UPDATE messages SET non_delivery_at = $2, updated_at = $2 WHERE id = $1', [id, at])
}

export interface RetentionDueRow {
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

/** D7: `erase` — the payload goes at its erase-by date; `review` — the sender is asked once at its review-by date. */
export type RetentionStep = 'erase' | 'review'

const RETENTION: Record<RetentionStep, { dateColumn: string; pendingWhere: string; mark: string }> = {
  // The hold findings go too: their messages describe a person ("an asylum-seeker who fled RS").
  erase: { dateColumn: 'erase_by', pendingWhere: 'erased_at IS NULL', mark: 'jws = NULL, holds = NULL, erased_at = $2' },
  review: { dateColumn: 'review_by', pendingWhere: 'review_notified_at IS NULL AND erased_at IS NULL', mark: 'review_notified_at = $2' },
}

/** Locks (SKIP LOCKED) up to `limit` messages whose `step` date has passed and which it has not handled yet. */
export async function claimRetentionDue (client: Client, step: RetentionStep, now: Date, limit: number): Promise<RetentionDueRow[]> {
  const q = RETENTION[step]
  const { rows } = await client.query<RetentionDueRow>(
    `SELECT id, exchange_id, sender, recipient, status, legal_basis, digest, ${q.dateColumn} AS due FROM messages
          WHERE ${q.pendingWhere} AND ${q.dateColumn} <= $1
          ORDER BY ${q.dateColumn} LIMIT $2 FOR UPDATE SKIP LOCKED`,
    [now, limit]
  )
  return rows
}

/** Marks `ids` as handled for `step` (erase: the JWS, the only copy of the body, and the hold findings go). */
export async function markRetentionDone (client: Client, step: RetentionStep, ids: string[], at: Date): Promise<void> {
  await client.query(`UPDATE messages SET ${RETENTION[step].mark}, updated_at = $2 WHERE id = ANY($1::uuid[])`, [ids, at])
}

// ---- read models

export interface MessageMetaRow {
  id: string; kind: string; sender: string; recipient: string; officer: string; in_reply_to: string | null; created_at: Date; received_at: Date
  status: string; classification: string; handling_code: string; digest: string; attempts: number; delivered_at: Date | null; acknowledged_at: Date | null; erased_at: Date | null
  non_delivery_at: Date | null
  erase_by: Date | null
}

/** The messages of an exchange as `agency` may see them (all for a supervisor), oldest first. */
export async function messagesOfExchange (db: Queryable, exchangeId: string, agency: string, supervisor: boolean): Promise<MessageMetaRow[]> {
  const { rows } = await db.query<MessageMetaRow>(
    `SELECT id, kind, sender, recipient, officer, in_reply_to, created_at, received_at, status, classification, handling_code, digest,
            attempts, delivered_at, acknowledged_at, erased_at, non_delivery_at, erase_by
       FROM messages WHERE exchange_id = $1 AND ($3 OR NOT (recipient = $2 AND status IN ('held', 'rejected'))) ORDER BY received_at, id`,
    [exchangeId, agency, supervisor]
  )
  return rows
}

export interface AttemptRow { message_id: string; attempt: number; started_at: Date; ended_at: Date | null; outcome: string | null; http_status: number | null; error: string | null }

/** The delivery attempts of those messages, by message and attempt. */
export async function attemptsOfExchange (db: Queryable, exchangeId: string, agency: string, supervisor: boolean): Promise<AttemptRow[]> {
  const { rows } = await db.query<AttemptRow>(
    `SELECT d.message_id, d.attempt, d.started_at, d.ended_at, d.outcome, d.http_status, d.error
       FROM deliveries d JOIN messages m ON m.id = d.message_id
      WHERE m.exchange_id = $1 AND ($3 OR NOT (m.recipient = $2 AND m.status IN ('held', 'rejected'))) ORDER BY d.message_id, d.attempt`,
    [exchangeId, agency, supervisor]
  )
  return rows
}

export interface EvidenceMessageRow { id: string; kind: string; sender: string; recipient: string; status: string; digest: string; jws: string | null; receipt: string; erased_at: Date | null }

/** Every message of an exchange with its JWS and receipt, oldest first (evidence bundles). */
export async function messagesForEvidence (db: Queryable, exchangeId: string): Promise<EvidenceMessageRow[]> {
  const { rows } = await db.query<EvidenceMessageRow>(
    'SELECT id, kind, sender, recipient, status, digest, jws, receipt, erased_at FROM messages WHERE exchange_id = $1 ORDER BY received_at, id', [exchangeId])
  return rows
}

/** SQL: the messages of `$1` (exchange ids) `$2` (an agency, or null: all) may know of: its own, and those sent to it not hidden from it (D4). */
const reportVisible = "exchange_id = ANY ($1::uuid[]) AND ($2::text IS NULL OR sender = $2 OR (recipient = $2 AND status NOT IN ('held', 'rejected')))"

/** R1: messages of the exchanges `ids` by kind, as `agency` (null: all) may see them. */
export async function countMessagesByKind (db: Queryable, ids: string[], agency: string | null): Promise<{ kind: string; count: number }[]> {
  const { rows } = await db.query<{ kind: string; count: number }>(
    `SELECT kind, count(*)::int AS count FROM messages WHERE ${reportVisible} GROUP BY kind ORDER BY kind`, [ids, agency])
  return rows
}

/**
 * R1, D3-D5: held messages by the rule that held them, with the review outcome. A message held
 * under several rules counts under each. An agency sees its own messages' holds (the recipient
 * never learns of a hold).
 */
export async function countHoldsByRule (db: Queryable, ids: string[], agency: string | null): Promise<{ rule: string; held: number; released: number; rejected: number; pending: number }[]> {
  const { rows } = await db.query<{ rule: string; held: number; released: number; rejected: number; pending: number }>(
    `SELECT rule, count(*)::int AS held,
            count(*) FILTER (WHERE status NOT IN ('held', 'rejected'))::int AS released,
            count(*) FILTER (WHERE status = 'rejected')::int AS rejected,
            count(*) FILTER (WHERE status = 'held')::int AS pending
       FROM (SELECT DISTINCT m.id, m.status, h ->> 'rule' AS rule FROM messages m, jsonb_array_elements(m.holds) h
              WHERE m.holds IS NOT NULL AND m.exchange_id = ANY ($1::uuid[]) AND ($2::text IS NULL OR m.sender = $2)) x
      GROUP BY rule ORDER BY rule`, [ids, agency])
  return rows
}

/** R1, T5: messages that ran out of delivery (undeliverable, or flagged not delivered in time) by sender and recipient. */
export async function countUndeliverableByPair (db: Queryable, ids: string[], agency: string | null): Promise<{ sender: string; recipient: string; count: number }[]> {
  const { rows } = await db.query<{ sender: string; recipient: string; count: number }>(
    `SELECT sender, recipient, count(*)::int AS count FROM messages
      WHERE ${reportVisible} AND (status = 'undeliverable' OR non_delivery_at IS NOT NULL)
      GROUP BY sender, recipient ORDER BY sender, recipient`, [ids, agency])
  return rows
}
