// What is shown is what is hashed. Every sealed line leix serves (an event, a proof, an export, a
// timeline entry, a search hit) is re-hashed against its stored leaf hash before it leaves, and
// the indexed columns a query selected it by are checked against the line. A difference is never
// answered silently: it is an integrity error (500 audit-integrity) and an alarm — a row in
// audit_alarms (which stops checkpoint signing, see sealer.ts), an `audit.alarm` event and an
// error log line.
import { randomUUID } from 'node:crypto'
import type { Queryable } from '../store/db.ts'
import { leafHash } from './merkle/hash.ts'
import { recordEvent } from './record.ts'

export class AuditIntegrityError extends Error {
  override readonly name = 'AuditIntegrityError'
  readonly code = 'audit-integrity'
  /** The seq whose stored form disagrees with itself, when known. */
  readonly seq: number | undefined
  constructor (message: string, seq?: number) {
    super(message)
    this.seq = seq
  }
}

/** A sealed row as read: the line and leaf hash, and whichever indexed columns the query used. */
export interface SealedRow {
  seq: number | string
  line: string
  leaf_hash: Buffer
  type?: string
  at?: Date
  exchange_id?: string | null
  message_id?: string | null
  agencies?: string[]
  actor?: string | null
}

/** The indexed columns recordEvent derives from an event (record.ts `auditRows`). */
export function columnsOf (event: Record<string, unknown>): { type: string, at: string, exchangeId: string | null, messageId: string | null, agencies: string[], actor: string } {
  const actor = (event.actor ?? {}) as { id?: string, agency?: string, kind?: string }
  return {
    type: String(event.type),
    at: String(event.at),
    exchangeId: typeof event.exchangeId === 'string' ? event.exchangeId : null,
    messageId: typeof event.messageId === 'string' ? event.messageId : null,
    agencies: Array.isArray(event.agencies) ? event.agencies.map(String) : [],
    actor: actor.id ?? actor.agency ?? actor.kind ?? '',
  }
}

/** Why the row's columns disagree with its line, or undefined when they agree. */
export function columnMismatch (row: SealedRow, event: Record<string, unknown>): string | undefined {
  const c = columnsOf(event)
  if (row.type !== undefined && row.type !== c.type) return `type column "${row.type}" differs from the line's "${c.type}"`
  if (row.at !== undefined && row.at.getTime() !== Date.parse(c.at)) return `at column ${row.at.toISOString()} differs from the line's ${c.at}`
  if (row.exchange_id !== undefined && (row.exchange_id ?? null) !== c.exchangeId) return 'exchange_id column differs from the line'
  if (row.message_id !== undefined && (row.message_id ?? null) !== c.messageId) return 'message_id column differs from the line'
  if (row.agencies !== undefined && row.agencies.join('\u0000') !== c.agencies.join('\u0000')) return `agencies column {${row.agencies.join(',')}} differs from the line's [${c.agencies.join(',')}]`
  if (row.actor !== undefined && (row.actor ?? '') !== c.actor) return 'actor column differs from the line'
  return undefined
}

/**
 * The event a sealed row holds, after checking that its line hashes to its stored leaf hash,
 * carries its seq, and agrees with the columns read. Throws AuditIntegrityError otherwise.
 */
export function checkedEvent (row: SealedRow): Record<string, unknown> {
  const seq = Number(row.seq)
  if (typeof row.line !== 'string' || !Buffer.isBuffer(row.leaf_hash)) throw new AuditIntegrityError(`sealed event ${seq} has no line or leaf hash`, seq)
  if (!leafHash(Buffer.from(row.line, 'utf8')).equals(row.leaf_hash)) {
    throw new AuditIntegrityError(`the stored line of seq ${seq} does not hash to its stored leaf hash`, seq)
  }
  let event: Record<string, unknown>
  try {
    event = JSON.parse(row.line) as Record<string, unknown>
  } catch {
    throw new AuditIntegrityError(`the stored line of seq ${seq} is not JSON`, seq)
  }
  if (event.seq !== seq) throw new AuditIntegrityError(`the line stored at seq ${seq} carries seq ${String(event.seq)}`, seq)
  const mismatch = columnMismatch(row, event)
  if (mismatch !== undefined) throw new AuditIntegrityError(`seq ${seq}: ${mismatch}`, seq)
  return event
}

export interface AlarmLog { error: (obj: object, msg: string) => void }

/** An open alarm (unresolved row of audit_alarms). */
export interface OpenAlarm { id: string, seq: number | null, source: string, reason: string, detectedAt: string }

/**
 * Raises an integrity alarm: an open row in audit_alarms (the sealer stops signing while one is
 * open), an `audit.alarm` event naming the seq, and an error log line. Never throws: an alarm
 * that cannot be stored is still logged.
 */
export async function raiseAlarm (db: Queryable, log: AlarmLog, at: Date, alarm: { seq?: number | undefined, source: string, reason: string }): Promise<void> {
  log.error({ alarm: 'audit-integrity', seq: alarm.seq, source: alarm.source, reason: alarm.reason }, `AUDIT INTEGRITY ALARM: ${alarm.reason}`)
  try {
    await db.query('INSERT INTO audit_alarms (id, detected_at, seq, source, reason) VALUES ($1, $2, $3, $4, $5)',
      [randomUUID(), at, alarm.seq ?? null, alarm.source, alarm.reason.slice(0, 1000)])
    await recordEvent(db, {
      type: 'audit.alarm', actor: { kind: 'broker' }, agencies: [], outcome: 'failed', reason: 'integrity',
      details: { source: alarm.source, seq: alarm.seq ?? null, detail: alarm.reason.slice(0, 300) },
    }, at)
  } catch (err) {
    log.error({ err, alarm: 'audit-integrity' }, 'the audit alarm could not be stored')
  }
}

/** Open alarms, oldest first (at most `limit`). */
export async function openAlarms (db: Queryable, limit = 10): Promise<OpenAlarm[]> {
  const { rows } = await db.query<{ id: string, seq: string | null, source: string, reason: string, detected_at: Date }>(
    'SELECT id, seq, source, reason, detected_at FROM audit_alarms WHERE resolved_at IS NULL ORDER BY detected_at LIMIT $1', [limit])
  return rows.map((r) => ({ id: r.id, seq: r.seq === null ? null : Number(r.seq), source: r.source, reason: r.reason, detectedAt: r.detected_at.toISOString() }))
}
