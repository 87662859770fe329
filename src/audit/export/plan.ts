// Streaming exports of the sealed log in the format of format.ts: events read in keyset
// batches straight from PostgreSQL, never the whole range in memory.
import type { Queryable } from '../../store/db.ts'
import { checkpointBody, signCheckpoint, type CheckpointSigningKey } from '../checkpoint.ts'
import { AuditIntegrityError, checkedEvent } from '../integrity.ts'
import { hashToBase64 } from '../merkle/hash.ts'
import { consistencyLayout, subtreeLayout, type RangeNode } from '../merkle/proof.ts'
import { verifyConsistency } from '../merkle/verify.ts'
import { signStatement, type ExportStatement } from '../statement.ts'
import { checkpointAt, latestCheckpoint, storedProofs, storedRangeProof, type StoredCheckpoint } from '../store.ts'
import { exportLines } from './write.ts'

/** Event lines read per query while streaming. @defaultValue 2000 */
export const EXPORT_BATCH = 2000
/** At most this many interim checkpoints in one export (evenly thinned); each localises damage. */
export const MAX_INTERIM_CHECKPOINTS = 1000

export interface ExportRequest {
  /** First seq (inclusive). */
  fromSeq?: number
  /** Last seq + 1 (exclusive). */
  toSeq?: number
  /** Event time at or after, ISO 8601: mapped to the seq of the first such event. */
  fromTime?: string
  /** Event time before, ISO 8601: mapped to the seq after the last such event. */
  toTime?: string
  /** The bounds as the caller gave them (seq or time), for the signed statement; null when absent. */
  asked?: { from: string | null; to: string | null }
}

/** What planning needs to sign: the broker key, the log's name, the time. */
export interface ExportSigner {
  key: CheckpointSigningKey
  origin: string
  now: Date
}

export interface ExportPlanned {
  start: number
  end: number
  /** The checkpoint at exactly `end` (signed now if none existed). */
  covering: StoredCheckpoint
  interim: string[]
  rangeNodes?: RangeNode[]
  /** The signed statement: the export's last line. */
  statement: string
  statementBody: ExportStatement
}

export type ExportRefusal = { refused: 'nothing-sealed' | 'empty-range' | 'halted'; detail: string }

/**
 * Maps a request onto a seq range [start, end) of the sealed log and finds its checkpoints and
 * range proof, and signs the export's statement. The end is clamped to the newest checkpoint: only
 * what is signed is exported; the final checkpoint is at exactly the last exported event.
 * Time bounds select by event time; since events from several processes are sequenced in commit
 * order, a few events next to the bounds may lie just outside the window (the range stays
 * contiguous so that it can be verified).
 */
export async function planExport (db: Queryable, req: ExportRequest, signer: ExportSigner): Promise<ExportPlanned | ExportRefusal> {
  const latest = await latestCheckpoint(db)
  if (!latest) return { refused: 'nothing-sealed', detail: 'no checkpoint has been signed yet' }
  let start = req.fromSeq ?? 0
  let end = req.toSeq ?? latest.treeSize
  if (req.fromTime !== undefined) {
    const { rows } = await db.query<{ seq: number }>(
      'SELECT seq FROM audit_events WHERE at >= $1 AND seq IS NOT NULL ORDER BY at, seq LIMIT 1', [req.fromTime])
    start = Math.max(start, rows[0]?.seq ?? latest.treeSize)
  }
  if (req.toTime !== undefined) {
    const { rows } = await db.query<{ seq: number }>(
      'SELECT seq FROM audit_events WHERE at < $1 AND seq IS NOT NULL ORDER BY at DESC, seq DESC LIMIT 1', [req.toTime])
    end = Math.min(end, rows[0] === undefined ? 0 : rows[0].seq + 1)
  }
  end = Math.min(end, latest.treeSize)
  if (start >= end) return { refused: 'empty-range', detail: `no sealed events in the requested range (log size ${latest.treeSize})` }

  const covering = await checkpointAtEnd(db, end, latest, signer)
  if ('refused' in covering) return covering
  // Interim checkpoints strictly inside the export, thinned to one per `step` seqs.
  const step = Math.max(1, Math.ceil((end - start) / MAX_INTERIM_CHECKPOINTS))
  const { rows: interim } = await db.query<{ jws: string }>(
    `SELECT DISTINCT ON ((tree_size - $1) / $3) jws, tree_size FROM audit_checkpoints
      WHERE tree_size > $1 AND tree_size < $2
      ORDER BY (tree_size - $1) / $3, tree_size`,
    [start, end, step]
  )
  const statementBody: ExportStatement = {
    origin: signer.origin, from: req.asked?.from ?? null, to: req.asked?.to ?? null,
    firstSeq: start, lastSeq: end - 1, events: end - start, treeSize: end, rootHash: covering.rootHash, timestamp: signer.now.toISOString(),
  }
  const planned: ExportPlanned = {
    start, end, covering, interim: interim.map((r) => r.jws), statementBody, statement: await signStatement(statementBody, signer.key),
  }
  if (start > 0) planned.rangeNodes = await storedRangeProof(db, start, end, end)
  return planned
}

/**
 * The checkpoint at exactly `size`: the stored one, or a new one signed now over the root the
 * stored nodes give for that size — after proving that root consistent with the newest
 * checkpoint, so that a damaged node store is an alarm, never a signature. One root per size:
 * the primary key keeps the first of two concurrent signers, and both answer with it.
 */
async function checkpointAtEnd (db: Queryable, size: number, latest: StoredCheckpoint, signer: ExportSigner): Promise<StoredCheckpoint | ExportRefusal> {
  const existing = size === latest.treeSize ? latest : await checkpointAt(db, size)
  if (existing) return existing
  const { rows: alarms } = await db.query<{ reason: string }>('SELECT reason FROM audit_alarms WHERE resolved_at IS NULL LIMIT 1')
  if (alarms[0]) return { refused: 'halted', detail: `checkpoint signing is stopped by an integrity alarm: ${alarms[0].reason}` }
  const [rootOnly, proof] = await storedProofs(db, [subtreeLayout(0, size), consistencyLayout(size, latest.treeSize)]) as [Buffer[], Buffer[]]
  const root = rootOnly[0] as Buffer
  const latestRoot = Buffer.from(latest.rootHash, 'base64')
  if (!verifyConsistency(size, latest.treeSize, root, latestRoot, proof)) {
    throw new AuditIntegrityError(`the stored tree nodes for size ${size} are not consistent with the signed checkpoint of size ${latest.treeSize}`, size - 1)
  }
  const body = checkpointBody(signer.origin, size, root, signer.now)
  const jws = await signCheckpoint(body, signer.key)
  await db.query('INSERT INTO audit_checkpoints (tree_size, root_hash, jws, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (tree_size) DO NOTHING',
    [size, root, jws, signer.now])
  const stored = await checkpointAt(db, size)
  if (!stored || stored.rootHash !== hashToBase64(root)) throw new AuditIntegrityError(`two roots for tree size ${size}`, size - 1)
  return stored
}

/** Canonical event lines for seq [start, end), in keyset batches. */
async function * eventLines (db: Queryable, start: number, end: number, batch: number): AsyncGenerator<string> {
  let next = start
  while (next < end) {
    const { rows } = await db.query<{ seq: string; line: string; leaf_hash: Buffer }>(
      'SELECT seq, line, leaf_hash FROM audit_events WHERE seq >= $1 AND seq < $2 ORDER BY seq LIMIT $3', [next, end, batch])
    if (rows.length === 0) throw new AuditIntegrityError(`audit events from seq ${next} are missing`, next)
    for (const row of rows) {
      if (Number(row.seq) !== next) throw new AuditIntegrityError(`audit event seq ${next} is missing (found ${row.seq})`, next)
      // Re-hashed before it leaves: a line that is not its leaf is an alarm, not an export line.
      checkedEvent(row)
      yield row.line
      next++
    }
  }
}

/**
 * The export as text chunks of whole lines ("\n"-terminated), ready to stream: memory holds one
 * batch of lines, not the export.
 */
export async function * exportChunks (db: Queryable, plan: ExportPlanned, opts: { batch?: number } = {}): AsyncGenerator<string> {
  const lines = exportLines({
    events: eventLines(db, plan.start, plan.end, opts.batch ?? EXPORT_BATCH),
    start: plan.start,
    end: plan.end,
    covering: plan.covering.jws,
    interim: plan.interim,
    ...(plan.rangeNodes ? { rangeNodes: plan.rangeNodes } : {}),
    statement: plan.statement,
  })
  let chunk = ''
  for await (const line of lines) {
    chunk += line + '\n'
    if (chunk.length >= 256 * 1024) {
      yield chunk
      chunk = ''
    }
  }
  if (chunk.length > 0) yield chunk
}
