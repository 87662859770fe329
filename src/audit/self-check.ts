// The running broker checks its own log (against its own operator: a superuser's edit of a
// sealed row must not go unnoticed). A walker re-derives, from seq 0 or from where it stopped:
//   lines -> leaf hashes (re-hashed, chained by prev, columns agreeing with the line)
//        -> perfect tree nodes (compared with audit_nodes)
//        -> roots (compared with every stored checkpoint, whose signature is verified)
//        -> the sealer's running state (audit_state).
// The service runs one walker incrementally (new leaves every LEIX_AUDIT_SELF_CHECK_INTERVAL_MS)
// and a fresh one over the whole log every LEIX_AUDIT_FULL_CHECK_INTERVAL seconds. A mismatch
// raises an alarm (integrity.ts): readiness fails naming the seq, and the sealer stops signing.
import type { JWK } from 'jose'
import type { Queryable } from '../store/db.ts'
import { VerificationError } from '../errors.ts'
import { checkpointRoot, checkpointVerifier, type VerifiedCheckpoint } from './checkpoint.ts'
import { AuditIntegrityError, checkedEvent, type SealedRow } from './integrity.ts'
import { MerkleAccumulator } from './merkle/compact.ts'
import { hashToBase64 } from './merkle/hash.ts'
import { recordEvents } from './record.ts'
import { breathe, BREATH_EVERY } from '../periodic.ts'

/** Rows read per query. @defaultValue 5000 */
export const WALK_BATCH = 5000

export type WalkResult =
  | { ok: true; treeSize: number; events: number; checkpoints: number }
  | { ok: false; seq?: number; reason: string }

/** Walks the sealed log forward; keeps its place between calls (O(log n) memory). */
export class LogWalker {
  readonly #verify: (jws: string) => Promise<VerifiedCheckpoint>
  readonly #origin: string
  readonly #batch: number
  #acc = new MerkleAccumulator()
  #prev: Buffer | null = null
  #checkpoints = 0

  constructor (opts: { jwks: { keys: JWK[] }; origin: string; batch?: number }) {
    this.#verify = checkpointVerifier(opts.jwks)
    this.#origin = opts.origin
    this.#batch = opts.batch ?? WALK_BATCH
  }

  /** Leaves verified so far. */
  get size (): number {
    return this.#acc.size
  }

  /**
   * Verifies the leaves from where the walker stopped up to the sealer's current tree size (or
   * `upTo`), and every checkpoint they complete. Never throws for a damaged log: it answers why.
   */
  async walk (db: Queryable, upTo?: number): Promise<WalkResult> {
    try {
      return await this.#walk(db, upTo)
    } catch (err) {
      if (err instanceof AuditIntegrityError) return { ok: false, ...(err.seq !== undefined ? { seq: err.seq } : {}), reason: err.message }
      throw err
    }
  }

  async #walk (db: Queryable, upTo?: number): Promise<WalkResult> {
    const { rows: st } = await db.query<{ tree_size: number; last_leaf: Buffer | null; accumulator: { size: number; stack: string[] } }>(
      'SELECT tree_size, last_leaf, accumulator FROM audit_state WHERE singleton')
    const state = st[0]
    if (!state) return { ok: false, reason: 'audit_state is missing' }
    const target = Math.min(upTo ?? state.tree_size, state.tree_size)
    const from = this.#acc.size
    if (target < from) return { ok: false, reason: `the log shrank: audit_state says ${state.tree_size} events, ${from} were verified before` }
    let events = 0
    while (this.#acc.size < target) {
      const lo = this.#acc.size
      const hi = Math.min(target, lo + this.#batch)
      const [{ rows }, { rows: cps }] = await Promise.all([
        db.query<SealedRow & { seq: number; line: string; leaf_hash: Buffer }>(
          `SELECT seq, line, leaf_hash, type, at, exchange_id, message_id, agencies, actor FROM audit_events
            WHERE seq >= $1 AND seq < $2 ORDER BY seq`, [lo, hi]),
        db.query<{ tree_size: number; root_hash: Buffer; jws: string }>(
          'SELECT tree_size, root_hash, jws FROM audit_checkpoints WHERE tree_size > $1 AND tree_size <= $2 ORDER BY tree_size', [lo, hi]),
      ])
      const levels: number[] = []
      const idxs: number[] = []
      const hashes: Buffer[] = []
      let c = 0
      for (const [i, row] of rows.entries()) {
        if (i > 0 && i % BREATH_EVERY === 0) await breathe()
        const seq = this.#acc.size
        if (row.seq !== seq) throw new AuditIntegrityError(`seq ${seq} is missing from audit_events (found ${row.seq} next)`, seq)
        const event = checkedEvent(row)
        const prev = this.#prev === null ? null : hashToBase64(this.#prev)
        if (event.prev !== prev) throw new AuditIntegrityError(`seq ${seq} does not chain to seq ${seq - 1} (prev differs)`, seq)
        for (const node of this.#acc.append(row.leaf_hash)) {
          if (node.level === 0) continue
          levels.push(node.level)
          idxs.push(node.index)
          hashes.push(node.hash)
        }
        this.#prev = row.leaf_hash
        events++
        while (cps[c] !== undefined && (cps[c] as { tree_size: number }).tree_size === this.#acc.size) {
          await this.#checkpoint(cps[c] as { tree_size: number; root_hash: Buffer; jws: string })
          c++
        }
      }
      if (this.#acc.size < hi) throw new AuditIntegrityError(`seq ${this.#acc.size} is missing from audit_events`, this.#acc.size)
      if (c !== cps.length) throw new AuditIntegrityError(`a checkpoint of size ${(cps[c] as { tree_size: number }).tree_size} lies outside the walked leaves`)
      if (levels.length > 0) {
        const { rows: stored } = await db.query<{ level: number; idx: number; hash: Buffer | null }>(
          `SELECT w.level, w.idx, n.hash FROM unnest($1::smallint[], $2::bigint[]) WITH ORDINALITY AS w(level, idx, o)
             LEFT JOIN audit_nodes n ON n.level = w.level AND n.idx = w.idx ORDER BY w.o`, [levels, idxs])
        for (const [i, row] of stored.entries()) {
          if (row.hash === null || !row.hash.equals(hashes[i] as Buffer)) {
            const span = 2 ** row.level
            throw new AuditIntegrityError(`tree node (level ${row.level}, index ${row.idx}) over seq ${row.idx * span}..${(row.idx + 1) * span - 1} ${row.hash === null ? 'is missing' : 'differs from its leaves'}`, row.idx * span)
          }
        }
      }
    }
    if (this.#acc.size === state.tree_size) {
      // The sealer continues from audit_state: it must be the state the leaves give.
      const last = state.last_leaf === null ? null : hashToBase64(state.last_leaf)
      if (last !== (this.#prev === null ? null : hashToBase64(this.#prev)) || state.accumulator.stack.join() !== this.#acc.toJSON().stack.join()) {
        throw new AuditIntegrityError(`audit_state (the sealer's running tree at size ${state.tree_size}) differs from the leaves`, state.tree_size - 1)
      }
    }
    return { ok: true, treeSize: this.#acc.size, events, checkpoints: this.#checkpoints }
  }

  async #checkpoint (cp: { tree_size: number; root_hash: Buffer; jws: string }): Promise<void> {
    const size = cp.tree_size
    let verified: VerifiedCheckpoint
    try {
      verified = await this.#verify(cp.jws)
    } catch (err) {
      if (!(err instanceof VerificationError)) throw err
      throw new AuditIntegrityError(`checkpoint of size ${size} refused (${err.code}): ${err.message}`, size - 1)
    }
    const root = this.#acc.root()
    if (verified.treeSize !== size || verified.origin !== this.#origin || !checkpointRoot(verified).equals(cp.root_hash) || !root.equals(cp.root_hash)) {
      throw new AuditIntegrityError(`the root of size ${size} recomputed from the leaves differs from its signed checkpoint`, size - 1)
    }
    this.#checkpoints++
  }
}

/**
 * A full walk from seq 0; with `resolve` and a passing walk, closes the open alarms (each
 * closure recorded as an `audit.alarm` event with outcome ok), so that sealing resumes.
 */
export async function fullSelfCheck (db: Queryable, opts: { jwks: { keys: JWK[] }; origin: string; resolve?: boolean; at: Date }): Promise<WalkResult & { resolved: number }> {
  const result = await new LogWalker({ jwks: opts.jwks, origin: opts.origin }).walk(db)
  if (!result.ok || !opts.resolve) return { ...result, resolved: 0 }
  const { rows } = await db.query<{ id: string; seq: number | null; reason: string }>(
    'UPDATE audit_alarms SET resolved_at = $1 WHERE resolved_at IS NULL RETURNING id, seq, reason', [opts.at])
  await recordEvents(db, rows.map((r) => ({
    type: 'audit.alarm' as const, actor: { kind: 'broker' as const }, agencies: [], outcome: 'ok' as const, reason: 'resolved',
    details: { alarm: r.id, seq: r.seq, verifiedTreeSize: result.treeSize },
  })), opts.at)
  return { ...result, resolved: rows.length }
}
