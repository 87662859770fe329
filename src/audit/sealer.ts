// The sequencer and sealer: gives recorded events their leaf index (seq), chains and hashes them,
// stores the new perfect tree nodes and signs a checkpoint, all in one transaction.
//
// Exactly one process seals at a time, whatever the number of gateways and workers: the
// transaction takes a PostgreSQL advisory lock (try, not wait: a process that finds it taken
// skips this round) and then locks the audit_state row, which alone would already serialise two
// sealers; the advisory lock just keeps the loser from queueing behind it. Events are picked by
// `seq IS NULL`, not by `recorded > last`, so an event committed late by a slow transaction with
// a lower `recorded` value is still sequenced — later, with the next free seq.
import type { Clock } from '../config/clock.ts'
import { withClient, type Pool } from '../store/db.ts'
import { checkpointBody, signCheckpoint, type CheckpointSigningKey } from './checkpoint.ts'
import { auditEventValidator, type EventCheck } from './event-schema.ts'
import { auditEvent, auditInsert, auditRows, type AuditEvent } from './record.ts'
import { columnMismatch } from './integrity.ts'
import { MerkleAccumulator, type AccumulatorState } from './merkle/compact.ts'
import { sealEvent } from './seal.ts'
import { breathe, BREATH_EVERY } from '../periodic.ts'

/** Advisory lock id of the sealer (migrations use 0x1e1c5). */
export const SEAL_LOCK = 0x1e1c5a

/** Events sequenced per transaction (one checkpoint each). @defaultValue 5000 */
export const SEAL_BATCH = 5000

export interface SealDeps {
  pool: Pool
  clock: Clock
  /** The broker key that signs checkpoints. */
  key: CheckpointSigningKey
  /** The log's name in checkpoints (config.origin). */
  origin: string
  /** @defaultValue SEAL_BATCH */
  batchSize?: number
  /** How far ahead of the clock an event's `at` may lie, seconds. @defaultValue 30 */
  maxSkewSeconds?: number
  /** The event validator (built once per process from maxSkewSeconds when absent). */
  validate?: EventCheck
  /** Told of each waiting row the sealer refused (for the log). */
  onRefused?: (rowId: string, why: string) => void
}

export type SealResult =
  | { status: 'sealed'; events: number; treeSize: number; rootHash: string; checkpoint: string }
  /** Nothing waited to be sealed. */
  | { status: 'idle'; treeSize: number }
  /** Another process holds the sealer lock. */
  | { status: 'busy' }
  /** An integrity alarm is open: nothing is sealed or signed over a damaged log (fail closed). */
  | { status: 'halted'; reason: string }

/** Seals up to one batch of waiting events and signs a checkpoint over the new tree size. */
export async function sealOnce (deps: SealDeps): Promise<SealResult> {
  const batch = deps.batchSize ?? SEAL_BATCH
  // withClient guards the checked-out client: a lost connection fails this round, not the process.
  return withClient(deps.pool, async (client) => {
    try {
      await client.query('BEGIN')
      const { rows: lock } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [SEAL_LOCK])
      if (!lock[0]?.ok) {
        await client.query('ROLLBACK')
        return { status: 'busy' }
      }
      const { rows: alarms } = await client.query<{ seq: number | null; reason: string }>(
        'SELECT seq, reason FROM audit_alarms WHERE resolved_at IS NULL ORDER BY detected_at LIMIT 1')
      if (alarms[0]) {
        await client.query('ROLLBACK')
        return { status: 'halted', reason: `integrity alarm${alarms[0].seq !== null ? ` at seq ${alarms[0].seq}` : ''}: ${alarms[0].reason}` }
      }
      const { rows: state } = await client.query<{ tree_size: number; last_leaf: Buffer | null; accumulator: AccumulatorState }>(
        'SELECT tree_size, last_leaf, accumulator FROM audit_state WHERE singleton FOR UPDATE')
      const current = state[0]
      if (!current) throw new Error('audit_state is missing: run the migrations (003-audit)')
      const { rows: candidates } = await client.query<{ id: string; event: Record<string, unknown>; type: string; at: Date; exchange_id: string | null; message_id: string | null; agencies: string[]; actor: string | null }>(
        'SELECT id, event, type, at, exchange_id, message_id, agencies, actor FROM audit_events WHERE seq IS NULL AND refused IS NULL ORDER BY recorded LIMIT $1', [batch])
      // Only valid events are sealed: a row written around recordEvent (unknown type, missing
      // fields, free text, a time ahead of the clock, columns that disagree with the event) is
      // marked refused, kept for the investigation, and raises an alarm event, which is sealed.
      const validate = deps.validate ?? (deps.validate = auditEventValidator(deps.maxSkewSeconds ?? 30))
      const now = deps.clock.now()
      const waiting: typeof candidates = []
      const refusedAlarms: AuditEvent[] = []
      for (const [i, row] of candidates.entries()) {
        if (i > 0 && i % BREATH_EVERY === 0) await breathe()
        const why = validate(row.event, now) ?? (row.event.id !== row.id ? 'its id differs from the row id' : columnMismatch({ seq: 0, line: '', leaf_hash: Buffer.alloc(0), ...row }, row.event))
        if (why === undefined) { waiting.push(row); continue }
        await client.query('UPDATE audit_events SET refused = $2 WHERE id = $1 AND seq IS NULL', [row.id, why.slice(0, 1000)])
        const alarm = auditEvent({
          type: 'audit.alarm', actor: { kind: 'broker' }, agencies: [], outcome: 'rejected', reason: 'invalid-event',
          details: { source: 'sealer', refusedRow: row.id, detail: why.slice(0, 300) },
        }, now)
        refusedAlarms.push(alarm)
        deps.onRefused?.(row.id, why)
      }
      if (refusedAlarms.length > 0) {
      // Sealed in this same batch, after the valid events: the refusal is on the record at once.
        await client.query(auditInsert(refusedAlarms, 1), [auditRows(refusedAlarms)])
        for (const a of refusedAlarms) {
          const { rows } = await client.query<{ id: string; event: Record<string, unknown>; type: string; at: Date; exchange_id: string | null; message_id: string | null; agencies: string[]; actor: string | null }>(
            'SELECT id, event, type, at, exchange_id, message_id, agencies, actor FROM audit_events WHERE id = $1', [a.id])
          if (rows[0]) waiting.push(rows[0])
        }
      }
      if (waiting.length === 0) {
        await client.query('COMMIT')
        return { status: 'idle', treeSize: current.tree_size }
      }

      const acc = MerkleAccumulator.from(current.accumulator)
      if (acc.size !== current.tree_size) throw new Error(`audit_state is inconsistent: tree_size ${current.tree_size}, accumulator ${acc.size}`)
      let prev: Buffer | null = current.last_leaf
      const ids: string[] = []
      const seqs: number[] = []
      const lines: string[] = []
      const leaves: Buffer[] = []
      const nodeLevels: number[] = []
      const nodeIndexes: number[] = []
      const nodeHashes: Buffer[] = []
      for (const [i, row] of waiting.entries()) {
        if (i > 0 && i % BREATH_EVERY === 0) await breathe()
        const sealed = sealEvent(row.event, acc.size, prev)
        for (const node of acc.append(sealed.leafHash)) {
        // Level 0 is the leaf itself, stored once in audit_events.leaf_hash.
          if (node.level === 0) continue
          nodeLevels.push(node.level)
          nodeIndexes.push(node.index)
          nodeHashes.push(node.hash)
        }
        ids.push(row.id)
        seqs.push(sealed.seq)
        lines.push(sealed.line)
        leaves.push(sealed.leafHash)
        prev = sealed.leafHash
      }

      const updated = await client.query(
      `UPDATE audit_events a SET seq = u.seq, line = u.line, leaf_hash = u.leaf
         FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::bytea[]) AS u(id, seq, line, leaf)
        WHERE a.id = u.id AND a.seq IS NULL`,
      [ids, seqs, lines, leaves]
      )
      // Under the lock nobody else sets seq; a difference means the log would get a gap: refuse.
      if (updated.rowCount !== ids.length) throw new Error(`sealer updated ${String(updated.rowCount)} of ${ids.length} events`)
      if (nodeLevels.length > 0) {
        await client.query(
          'INSERT INTO audit_nodes (level, idx, hash) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])',
          [nodeLevels, nodeIndexes, nodeHashes]
        )
      }
      await client.query('UPDATE audit_state SET tree_size = $1, last_leaf = $2, accumulator = $3 WHERE singleton',
        [acc.size, prev, JSON.stringify(acc.toJSON())])
      const at = deps.clock.now()
      const root = acc.root()
      const body = checkpointBody(deps.origin, acc.size, root, at)
      const jws = await signCheckpoint(body, deps.key)
      // tree_size is the primary key: a second root for one size cannot be stored.
      await client.query('INSERT INTO audit_checkpoints (tree_size, root_hash, jws, created_at) VALUES ($1, $2, $3, $4)',
        [acc.size, root, jws, at])
      await client.query('COMMIT')
      return { status: 'sealed', events: waiting.length, treeSize: acc.size, rootHash: body.rootHash, checkpoint: jws }
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      throw err
    }
  })
}

/**
 * Seals until nothing waits (or `maxBatches` transactions ran, so one tick cannot run forever
 * under a flood). Returns the events sealed and whether another process held the lock.
 */
export async function sealPending (deps: SealDeps, maxBatches = 20): Promise<{ events: number; busy: boolean; treeSize?: number; halted?: string }> {
  let events = 0
  let treeSize: number | undefined
  for (let i = 0; i < maxBatches; i++) {
    const r = await sealOnce(deps)
    if (r.status === 'busy') return { events, busy: true, ...(treeSize !== undefined ? { treeSize } : {}) }
    if (r.status === 'halted') return { events, busy: false, halted: r.reason, ...(treeSize !== undefined ? { treeSize } : {}) }
    treeSize = r.treeSize
    if (r.status === 'idle') break
    events += r.events
    if (r.events < (deps.batchSize ?? SEAL_BATCH)) break
  }
  return { events, busy: false, ...(treeSize !== undefined ? { treeSize } : {}) }
}
