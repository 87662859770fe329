// Justifications and review reasons (rule A1, A3). A person's free text ("checking on …")
// is personal data and must not enter a log that can never be erased. The sealed event keeps:
//   - a code from a closed list (JUSTIFICATION_CODES),
//   - an optional case reference (an identifier, restricted to a safe alphabet),
//   - HMAC-SHA-256(salt, text), base64url, with a random 32-byte salt per text,
//   - the id of the `justifications` row holding the text and its salt.
// The row is erased (text and salt) after the retention period and the erasure is logged
// (`justification.erased`). While the text exists an auditor can prove it is what was written:
// recompute the HMAC with the stored salt and compare it with the sealed event (GET
// /v1/audit/justifications/{id}). Once the salt is gone the hash cannot be tested against guesses.
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import type { Clock } from '../config/clock.ts'
import type { Pool, Queryable } from '../store/db.ts'
import { recordEvents, type AuditEventInput, type SealedJustification } from './record.ts'

/** The closed list of justification codes. */
export const JUSTIFICATION_CODES = [
  'investigation',
  'data-protection-review',
  'audit',
  'court-order',
  'subject-access-request',
  'oversight',
  'operations',
  'other',
] as const
export type JustificationCode = (typeof JUSTIFICATION_CODES)[number]

/** A case reference: an identifier, never text about a person. */
export const CASE_REF_PATTERN = /^[A-Za-z0-9][A-Za-z0-9/._:-]{0,63}$/

/** How long the text of a justification is kept, days. @defaultValue 730 */
export const DEFAULT_JUSTIFICATION_RETENTION_DAYS = 730

export interface JustificationInput {
  code: JustificationCode
  caseRef?: string | undefined
  text: string
}

export function isJustificationCode (value: unknown): value is JustificationCode {
  return typeof value === 'string' && (JUSTIFICATION_CODES as readonly string[]).includes(value)
}

/** base64url HMAC-SHA-256 of the UTF-8 text keyed by `salt`. */
export function justificationHash (salt: Uint8Array, text: string): string {
  return createHmac('sha256', salt).update(text, 'utf8').digest('base64url')
}

/**
 * Stores the text in the erasable table (in the caller's transaction, beside the event that
 * cites it) and returns what the sealed event holds.
 */
export async function storeJustification (db: Queryable, input: JustificationInput, now: Date, retentionDays = DEFAULT_JUSTIFICATION_RETENTION_DAYS): Promise<SealedJustification> {
  const id = randomUUID()
  const salt = randomBytes(32)
  const hash = justificationHash(salt, input.text)
  const eraseBy = new Date(now.getTime() + retentionDays * 86_400_000)
  await db.query('INSERT INTO justifications (id, created_at, erase_by, code, text, salt, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)',
    [id, now, eraseBy, input.code, input.text, salt, hash])
  return { code: input.code, ...(input.caseRef ? { caseRef: input.caseRef } : {}), id, hash }
}

export interface JustificationProof {
  id: string
  code: string
  createdAt: string
  eraseBy: string
  /** The text as written, or null once erased. */
  text: string | null
  /** base64url salt, or null once erased. */
  salt: string | null
  /** The HMAC stored beside the text. */
  hash: string
  /** HMAC recomputed now from text and salt (null once erased). */
  recomputed: string | null
  /** True when the recomputed HMAC equals the stored one. */
  textMatches: boolean | null
  erasedAt: string | null
  /** The sealed events citing this justification, and whether each carries the same hash. */
  events: { seq: number | null; type: string; hashMatches: boolean }[]
  /** The agencies the citing events list (from their lines): who may see this justification. */
  agencies: string[]
}

/** What an auditor needs to prove that the stored text is what the sealed log committed to. */
export async function proveJustification (db: Queryable, id: string): Promise<JustificationProof | undefined> {
  const { rows } = await db.query<{ id: string; code: string; created_at: Date; erase_by: Date; text: string | null; salt: Buffer | null; hash: string; erased_at: Date | null }>(
    'SELECT id, code, created_at, erase_by, text, salt, hash, erased_at FROM justifications WHERE id = $1', [id])
  const row = rows[0]
  if (!row) return undefined
  const recomputed = row.text !== null && row.salt !== null ? justificationHash(row.salt, row.text) : null
  // Found through the line itself (the JSON copy is only an index): what is shown is what is hashed.
  const { rows: events } = await db.query<{ seq: string | null; line: string | null; event: Record<string, unknown> }>(
    'SELECT seq, line, event FROM audit_events WHERE event -> \'justification\' ->> \'id\' = $1 ORDER BY seq NULLS LAST', [id])
  const eq = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))
  const parsed = events.map((e) => (e.line !== null ? JSON.parse(e.line) : e.event) as { type?: string; agencies?: unknown; justification?: { hash?: string } })
  const agencies = [...new Set(parsed.flatMap((ev) => (Array.isArray(ev.agencies) ? ev.agencies.filter((a): a is string => typeof a === 'string') : [])))]
  return {
    id: row.id,
    code: row.code,
    createdAt: row.created_at.toISOString(),
    eraseBy: row.erase_by.toISOString(),
    text: row.text,
    salt: row.salt?.toString('base64url') ?? null,
    hash: row.hash,
    recomputed,
    textMatches: recomputed === null ? null : eq(recomputed, row.hash),
    erasedAt: row.erased_at?.toISOString() ?? null,
    events: parsed.map((ev, i) => ({
      seq: events[i]?.seq == null ? null : Number(events[i]?.seq), type: String(ev.type), hashMatches: ev.justification?.hash === row.hash,
    })),
    agencies,
  }
}

/**
 * Erases the text and salt of justifications past their erase-by date, in batches, each erasure
 * logged (`justification.erased`: the id and the code, never the text). Returns how many.
 */
export async function eraseJustifications (deps: { pool: Pool; clock: Clock }, batch = 500): Promise<number> {
  const now = deps.clock.now()
  let total = 0
  for (;;) {
    const client = await deps.pool.connect()
    try {
      await client.query('BEGIN')
      const { rows } = await client.query<{ id: string; code: string; hash: string }>(
        `UPDATE justifications SET text = NULL, salt = NULL, erased_at = $1
          WHERE id IN (SELECT id FROM justifications WHERE erased_at IS NULL AND erase_by <= $1 ORDER BY erase_by LIMIT $2 FOR UPDATE SKIP LOCKED)
          RETURNING id, code, hash`, [now, batch])
      const events: AuditEventInput[] = rows.map((r) => ({
        type: 'justification.erased', actor: { kind: 'broker' }, agencies: [], outcome: 'ok', reason: 'retention',
        details: { justificationId: r.id, code: r.code, hash: r.hash },
      }))
      await recordEvents(client, events, now)
      await client.query('COMMIT')
      total += rows.length
      if (rows.length < batch) return total
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      throw err
    } finally {
      client.release()
    }
  }
}
