// Streaming exports of the sealed log in the format of verify-export.ts: events read in keyset
// batches straight from PostgreSQL, never the whole range in memory.
import type { Queryable } from '../store/db.ts'
import { rangeProof, type RangeNode } from './merkle.ts'
import { checkpointCovering, latestCheckpoint, withStoredNodes, type StoredCheckpoint } from './store.ts'
import { exportLines } from './verify-export.ts'

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
}

export interface ExportPlanned {
  start: number
  end: number
  covering: StoredCheckpoint
  interim: string[]
  rangeNodes?: RangeNode[]
}

export type ExportRefusal = { refused: 'nothing-sealed' | 'empty-range'; detail: string }

/**
 * Maps a request onto a seq range [start, end) of the sealed log and finds its checkpoints and
 * range proof. The end is clamped to the newest checkpoint: only what is signed is exported.
 * Time bounds select by event time; since events from several processes are sequenced in commit
 * order, a few events next to the bounds may lie just outside the window (the range stays
 * contiguous so that it can be verified).
 */
export async function planExport(db: Queryable, req: ExportRequest): Promise<ExportPlanned | ExportRefusal> {
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

  const covering = await checkpointCovering(db, end) as StoredCheckpoint // exists: latest.treeSize >= end
  // Interim checkpoints strictly inside the export, thinned to one per `step` seqs.
  const step = Math.max(1, Math.ceil((end - start) / MAX_INTERIM_CHECKPOINTS))
  const { rows: interim } = await db.query<{ jws: string }>(
    `SELECT DISTINCT ON ((tree_size - $1) / $4) jws, tree_size FROM audit_checkpoints
      WHERE tree_size > $1 AND tree_size <= $2 AND tree_size < $3
      ORDER BY (tree_size - $1) / $4, tree_size`,
    [start, end, covering.treeSize, step],
  )
  const planned: ExportPlanned = { start, end, covering, interim: interim.map((r) => r.jws) }
  if (start > 0 || end < covering.treeSize) {
    planned.rangeNodes = await withStoredNodes(db, (src) => rangeProof(src, start, end, covering.treeSize))
  }
  return planned
}

/** Canonical event lines for seq [start, end), in keyset batches. */
async function * eventLines(db: Queryable, start: number, end: number, batch: number): AsyncGenerator<string> {
  let next = start
  while (next < end) {
    const { rows } = await db.query<{ seq: number; line: string }>(
      'SELECT seq, line FROM audit_events WHERE seq >= $1 AND seq < $2 ORDER BY seq LIMIT $3', [next, end, batch])
    if (rows.length === 0) throw new Error(`audit events from seq ${next} are missing`)
    for (const row of rows) {
      if (row.seq !== next) throw new Error(`audit event seq ${next} is missing (found ${row.seq})`)
      yield row.line
      next++
    }
  }
}

/**
 * The export as text chunks of whole lines ("\n"-terminated), ready to stream: memory holds one
 * batch of lines, not the export.
 */
export async function * exportChunks(db: Queryable, plan: ExportPlanned, opts: { batch?: number } = {}): AsyncGenerator<string> {
  const lines = exportLines({
    events: eventLines(db, plan.start, plan.end, opts.batch ?? EXPORT_BATCH),
    start: plan.start,
    end: plan.end,
    covering: plan.covering.jws,
    interim: plan.interim,
    ...(plan.rangeNodes ? { rangeNodes: plan.rangeNodes } : {}),
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
