// Reading the sealed log from PostgreSQL: tree nodes for proofs, checkpoints, canonical lines.
//
// Storage layout (migration 001/003): a leaf hash lives once, in audit_events.leaf_hash (by seq);
// audit_nodes holds the perfect subtrees of level >= 1 as the sealer completes them. A proof then
// needs O(log n) primary-key lookups, fetched in ONE round trip (see `withStoredNodes`).
import type { Queryable } from '../store/db.ts'
import { MerkleError, type NodeSource } from './merkle.ts'

export interface StoredCheckpoint {
  treeSize: number
  rootHash: string
  /** The compact JWS by the broker key: what a client verifies and keeps. */
  jws: string
  createdAt: string
}

interface CheckpointRow { tree_size: number; root_hash: Buffer; jws: string; created_at: Date }

function checkpointOf(row: CheckpointRow): StoredCheckpoint {
  return { treeSize: row.tree_size, rootHash: row.root_hash.toString('base64'), jws: row.jws, createdAt: row.created_at.toISOString() }
}

/** The newest checkpoint, or undefined before the first seal. */
export async function latestCheckpoint(db: Queryable): Promise<StoredCheckpoint | undefined> {
  const { rows } = await db.query<CheckpointRow>('SELECT tree_size, root_hash, jws, created_at FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1')
  return rows[0] ? checkpointOf(rows[0]) : undefined
}

/** The checkpoint of exactly `treeSize`, if one was made. */
export async function checkpointAt(db: Queryable, treeSize: number): Promise<StoredCheckpoint | undefined> {
  const { rows } = await db.query<CheckpointRow>('SELECT tree_size, root_hash, jws, created_at FROM audit_checkpoints WHERE tree_size = $1', [treeSize])
  return rows[0] ? checkpointOf(rows[0]) : undefined
}

/** The smallest checkpoint with treeSize >= `size` (the one that covers an export ending there). */
export async function checkpointCovering(db: Queryable, size: number): Promise<StoredCheckpoint | undefined> {
  const { rows } = await db.query<CheckpointRow>(
    'SELECT tree_size, root_hash, jws, created_at FROM audit_checkpoints WHERE tree_size >= $1 ORDER BY tree_size LIMIT 1', [size])
  return rows[0] ? checkpointOf(rows[0]) : undefined
}

export interface SealedEventRow {
  seq: number
  line: string
  leafHash: Buffer
  agencies: string[]
  exchangeId: string | null
  messageId: string | null
}

/** A sealed event by seq (undefined if no event has that seq yet). */
export async function sealedEvent(db: Queryable, seq: number): Promise<SealedEventRow | undefined> {
  const { rows } = await db.query<{ seq: number; line: string; leaf_hash: Buffer; agencies: string[]; exchange_id: string | null; message_id: string | null }>(
    'SELECT seq, line, leaf_hash, agencies, exchange_id, message_id FROM audit_events WHERE seq = $1', [seq])
  const row = rows[0]
  return row ? { seq: row.seq, line: row.line, leafHash: row.leaf_hash, agencies: row.agencies, exchangeId: row.exchange_id, messageId: row.message_id } : undefined
}

const nodeKey = (level: number, index: number): string => `${level}:${index}`

/** Fetches the given perfect nodes (level 0 from audit_events) in one query. */
export async function fetchNodes(db: Queryable, refs: Iterable<{ level: number; index: number }>): Promise<Map<string, Buffer>> {
  const levels: number[] = []
  const indexes: number[] = []
  const leaves: number[] = []
  for (const { level, index } of refs) {
    if (level === 0) leaves.push(index)
    else { levels.push(level); indexes.push(index) }
  }
  const { rows } = await db.query<{ level: number; idx: number; hash: Buffer }>(
    `SELECT n.level, n.idx, n.hash
       FROM unnest($1::smallint[], $2::bigint[]) AS w(level, idx)
       JOIN audit_nodes n ON n.level = w.level AND n.idx = w.idx
     UNION ALL
     SELECT 0::smallint, seq, leaf_hash FROM audit_events WHERE seq = ANY($3::bigint[]) AND leaf_hash IS NOT NULL`,
    [levels, indexes, leaves],
  )
  return new Map(rows.map((r) => [nodeKey(r.level, Number(r.idx)), r.hash]))
}

const PLACEHOLDER = Buffer.alloc(32)

/**
 * Runs a proof computation (inclusionProof, consistencyProof, rangeProof from merkle.ts) over the
 * stored nodes in one database round trip: a first pass with placeholder hashes learns which nodes
 * it reads (the shape of a proof depends on sizes only, never on hashes), one query fetches them,
 * the second pass computes. Throws MerkleError('bad-node') if the store lacks a node.
 */
export async function withStoredNodes<T>(db: Queryable, compute: (src: NodeSource) => Promise<T>): Promise<T> {
  const wanted = new Map<string, { level: number; index: number }>()
  await compute(async (level, index) => {
    wanted.set(nodeKey(level, index), { level, index })
    return PLACEHOLDER
  })
  const found = wanted.size > 0 ? await fetchNodes(db, wanted.values()) : new Map<string, Buffer>()
  return await compute(async (level, index) => {
    const hash = found.get(nodeKey(level, index))
    if (hash === undefined) throw new MerkleError('bad-node', `the store lacks node (${level}, ${index})`)
    return hash
  })
}
