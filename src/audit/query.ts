// The auditor's search over the sealed log: filters on the hashed lines, keyset-paged by seq
// (stable under concurrent appends: a page never shifts when new events are sealed).
import { decodeSeqCursor, encodeSeqCursor } from '../store/cursor.ts'
import type { Queryable } from '../store/db.ts'
import { checkedEvent, type SealedRow } from './integrity.ts'

export interface EventFilters {
  /** Event time at or after, ISO 8601. */
  from?: string
  /** Event time before, ISO 8601. */
  to?: string
  /** Events concerning this agency (in `agencies`). */
  agency?: string
  exchange?: string
  message?: string
  type?: string
  /** Acting person's or system's identifier (token subject or officer id), or an agency for unnamed systems. */
  actor?: string
  /** Page size, 1..1000. @defaultValue 100 */
  limit?: number
  /** Opaque cursor from the previous page. */
  cursor?: string
}

export interface EventPage {
  /** Sealed events as logged (their canonical line parsed: seq, prev and every field). */
  items: Record<string, unknown>[]
  nextCursor: string | null
}

/** Sealed events matching every filter, in seq order. Unsealed events (a few seconds old) are not listed. */
export async function queryEvents (db: Queryable, f: EventFilters, scope: { visibleTo?: string } = {}): Promise<EventPage> {
  // Every filter reads the hashed line (expression indexes, migration 020), never the column
  // copy: an edited column can neither hide an event from a search nor slip one in.
  const L = '(line::jsonb)'
  const where: string[] = ['line IS NOT NULL']
  const params: unknown[] = []
  const add = (sql: string, value: unknown): void => {
    params.push(value)
    where.push(sql.replace('?', `$${params.length}`))
  }
  if (f.from) add(`${L} ->> 'at' >= ?`, new Date(f.from).toISOString())
  if (f.to) add(`${L} ->> 'at' < ?`, new Date(f.to).toISOString())
  if (f.agency) add(`${L} -> 'agencies' @> ?::jsonb`, JSON.stringify([f.agency]))
  if (f.exchange) add(`${L} ->> 'exchangeId' = ?`, f.exchange.toLowerCase())
  if (f.message) add(`${L} ->> 'messageId' = ?`, f.message.toLowerCase())
  if (f.type) add(`${L} ->> 'type' = ?`, f.type)
  if (f.actor) add(`COALESCE(${L} #>> '{actor,id}', ${L} #>> '{actor,agency}', ${L} #>> '{actor,kind}') = ?`, f.actor)
  // An event is visible to the agencies its line lists (a supervisor sees all).
  if (scope.visibleTo !== undefined) add(`${L} -> 'agencies' @> ?::jsonb`, JSON.stringify([scope.visibleTo]))
  if (f.cursor !== undefined) {
    add('seq > ?', decodeSeqCursor(f.cursor))
  }
  const limit = Math.min(Math.max(f.limit ?? 100, 1), 1000)
  // Every hit is re-hashed against its stored leaf before it is served (AuditIntegrityError otherwise).
  const { rows } = await db.query<SealedRow & { seq: number }>(
    `SELECT seq, line, leaf_hash FROM audit_events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ${limit + 1}`,
    params
  )
  const page = rows.slice(0, limit)
  const last = page[page.length - 1]
  return {
    items: page.map((r) => checkedEvent(r)),
    nextCursor: rows.length > limit && last ? encodeSeqCursor(last.seq) : null,
  }
}

/**
 * The events of one exchange for its timeline: sealed ones by their hashed line (expression
 * index, migration 020; re-hash them before use), and those the sealer has not reached yet.
 */
export async function exchangeEvents (db: Queryable, exchangeId: string): Promise<{ sealed: (SealedRow & { seq: number })[]; waiting: { event: Record<string, unknown> }[] }> {
  const sealed = await db.query<SealedRow & { seq: number }>(
    'SELECT seq, line, leaf_hash FROM audit_events WHERE line IS NOT NULL AND (line::jsonb) ->> \'exchangeId\' = $1 ORDER BY seq', [exchangeId])
  const waiting = await db.query<{ event: Record<string, unknown> }>(
    'SELECT event FROM audit_events WHERE seq IS NULL AND refused IS NULL AND exchange_id = $1 ORDER BY recorded', [exchangeId])
  return { sealed: sealed.rows, waiting: waiting.rows }
}

/**
 * R1: refusals of the exchanges `ids` by ground, from their `exchange.refused` events (reason
 * `L4(<ground>)`; sealed ones by their canonical line); the ground is a code, never the reasons text (A3).
 */
export async function countRefusalsByGround (db: Queryable, ids: string[]): Promise<{ ground: string; count: number }[]> {
  const { rows } = await db.query<{ ground: string; count: number }>(
    `SELECT coalesce(substring(e ->> 'reason' FROM '^L4\\((.*)\\)$'), 'unknown') AS ground, count(*)::int AS count
       FROM (SELECT line::jsonb AS e FROM audit_events WHERE line IS NOT NULL AND (line::jsonb) ->> 'type' = 'exchange.refused'
             UNION ALL SELECT event FROM audit_events WHERE seq IS NULL AND refused IS NULL AND event ->> 'type' = 'exchange.refused') x
      WHERE e ->> 'exchangeId' = ANY ($1::text[]) GROUP BY 1 ORDER BY 1`, [ids])
  return rows
}
