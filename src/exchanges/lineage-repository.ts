// The one module with SQL for `message_origins` and `message_consents` (D6, Q3).
import type { Queryable } from '../store/db.ts'
import type { SqlPart } from '../store/statement.ts'

export interface ConsentRow {
  message_id: string
  use: 'onward-transfer' | 'evidence' | 'other-purpose'
  recipient: string | null
  granted: boolean
  consent_message_id: string | null
}

/**
 * The consents recorded for `holder` on messages `ids`, in the order they were recorded: standing conditions, and the
 * decisions of consent replies (the caller drops those of replies held or rejected by review).
 */
export async function consentsFor (db: Queryable, holder: string, ids: readonly string[]): Promise<ConsentRow[]> {
  if (ids.length === 0) return []
  const { rows } = await db.query<ConsentRow>(
    `SELECT c.message_id, c.use, c.recipient, c.granted, c.consent_message_id FROM message_consents c
      WHERE c.holder = $1 AND c.message_id = ANY($2::uuid[])
      ORDER BY c.seq`, [holder, ids])
  return rows
}

/** The INSERT of a message's origins, as a part of intake's commit. */
export function insertOrigins (messageId: string, origins: readonly { agency: string; messageId?: string }[]): SqlPart {
  return (p) => `INSERT INTO message_origins (message_id, position, agency, origin_message_id) VALUES ${
    origins.map((o, i) => p.row([messageId, i, o.agency, o.messageId ?? null])).join(', ')}`
}

export interface NewConsent {
  messageId: string
  holder: string
  use: ConsentRow['use']
  recipient: string | null
  granted: boolean
  consentMessageId: string | null
}

/** The INSERT of consent rows, as a part of intake's commit. */
export function insertConsents (consents: readonly NewConsent[], at: Date): SqlPart {
  return (p) => `INSERT INTO message_consents (message_id, holder, use, recipient, granted, consent_message_id, recorded_at) VALUES ${
    consents.map((c) => p.row([c.messageId, c.holder, c.use, c.recipient, c.granted, c.consentMessageId, at])).join(', ')}`
}

/** A message that carried data derived from the root, and the origin it named on that path. */
export interface DerivedLink {
  message_id: string
  origin_message_id: string
  depth: number
}

/**
 * Every message whose `origin` names `root` or a message derived from it, transitively (Q3), at
 * its shortest depth (1: names the root itself). Bounded by depth 32 and `limit` rows.
 */
export async function derivedLinks (db: Queryable, root: string, limit = 1000): Promise<DerivedLink[]> {
  const { rows } = await db.query<DerivedLink>(
    `WITH RECURSIVE derived (message_id, origin_message_id, depth) AS (
        SELECT o.message_id, o.origin_message_id, 1 FROM message_origins o WHERE o.origin_message_id = $1
        UNION
        SELECT o.message_id, o.origin_message_id, d.depth + 1 FROM message_origins o JOIN derived d ON o.origin_message_id = d.message_id
          WHERE d.depth < 32
      )
      SELECT DISTINCT ON (message_id) message_id, origin_message_id, depth FROM derived
       ORDER BY message_id, depth
       LIMIT ${limit}`, [root])
  return rows
}
