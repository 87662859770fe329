// Reading the sealed log from PostgreSQL: tree nodes for proofs, checkpoints, canonical lines.
//
// Storage layout (migration 001/003): a leaf hash lives once, in audit_events.leaf_hash (by seq);
// audit_nodes holds the perfect subtrees of level >= 1 as the sealer completes them. A proof then
// needs O(log n) primary-key lookups, fetched in ONE round trip (see `storedProofs`).
import type { Queryable } from '../store/db.ts'
import {
  NodeHashes, consistencyLayout, inclusionLayout, perfectNodesOf, rangeLayout, rangeNodes, rehash,
  type NodeRef, type ProofNode, type RangeNode,
} from './merkle/proof.ts'

export interface StoredCheckpoint {
  treeSize: number
  rootHash: string
  /** The compact JWS by the broker key: what a client verifies and keeps. */
  jws: string
  createdAt: string
}

interface CheckpointRow { tree_size: number; root_hash: Buffer; jws: string; created_at: Date }

function checkpointOf (row: CheckpointRow): StoredCheckpoint {
  return { treeSize: row.tree_size, rootHash: row.root_hash.toString('base64'), jws: row.jws, createdAt: row.created_at.toISOString() }
}

/** The newest checkpoint, or undefined before the first seal. */
export async function latestCheckpoint (db: Queryable): Promise<StoredCheckpoint | undefined> {
  const { rows } = await db.query<CheckpointRow>('SELECT tree_size, root_hash, jws, created_at FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1')
  return rows[0] ? checkpointOf(rows[0]) : undefined
}

/** The checkpoint of exactly `treeSize`, if one was made. */
export async function checkpointAt (db: Queryable, treeSize: number): Promise<StoredCheckpoint | undefined> {
  const { rows } = await db.query<CheckpointRow>('SELECT tree_size, root_hash, jws, created_at FROM audit_checkpoints WHERE tree_size = $1', [treeSize])
  return rows[0] ? checkpointOf(rows[0]) : undefined
}

/** The smallest checkpoint with treeSize >= `size` (the one that covers an export ending there). */
export async function checkpointCovering (db: Queryable, size: number): Promise<StoredCheckpoint | undefined> {
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
export async function sealedEvent (db: Queryable, seq: number): Promise<SealedEventRow | undefined> {
  const { rows } = await db.query<{ seq: number; line: string; leaf_hash: Buffer; agencies: string[]; exchange_id: string | null; message_id: string | null }>(
    'SELECT seq, line, leaf_hash, agencies, exchange_id, message_id FROM audit_events WHERE seq = $1', [seq])
  const row = rows[0]
  return row ? { seq: row.seq, line: row.line, leafHash: row.leaf_hash, agencies: row.agencies, exchangeId: row.exchange_id, messageId: row.message_id } : undefined
}

/** Fetches the given perfect nodes (level 0 from audit_events) in one query. */
export async function fetchNodes (db: Queryable, refs: Iterable<NodeRef>): Promise<NodeHashes> {
  const levels: number[] = []
  const indexes: number[] = []
  const leaves: number[] = []
  for (const { level, index } of refs) {
    if (level === 0) leaves.push(index)
    else { levels.push(level); indexes.push(index) }
  }
  const hashes = new NodeHashes()
  if (levels.length + leaves.length === 0) return hashes
  const { rows } = await db.query<{ level: number; idx: number; hash: Buffer }>(
    `SELECT n.level, n.idx, n.hash
       FROM unnest($1::smallint[], $2::bigint[]) AS w(level, idx)
       JOIN audit_nodes n ON n.level = w.level AND n.idx = w.idx
     UNION ALL
     SELECT 0::smallint, seq, leaf_hash FROM audit_events WHERE seq = ANY($3::bigint[]) AND leaf_hash IS NOT NULL`,
    [levels, indexes, leaves]
  )
  for (const r of rows) hashes.set(r.level, Number(r.idx), r.hash)
  return hashes
}

/**
 * The hashes of several proofs over the stored nodes, in one database round trip: the layouts
 * (from sizes alone, merkle/proof.ts) name every node they read. Throws
 * VerificationError('bad-node') if the store lacks a node.
 */
export async function storedProofs (db: Queryable, layouts: ReadonlyArray<readonly ProofNode[]>): Promise<Buffer[][]> {
  const hashes = await fetchNodes(db, perfectNodesOf(...layouts))
  return layouts.map((layout) => rehash(layout, hashes))
}

/** RFC 9162 inclusion proof of leaf `index` in the tree of `treeSize`, from the stored nodes. */
export async function storedInclusionProof (db: Queryable, index: number, treeSize: number): Promise<Buffer[]> {
  return (await storedProofs(db, [inclusionLayout(index, treeSize)]))[0] as Buffer[]
}

/** RFC 9162 consistency proof from size `m` to size `n`, from the stored nodes. */
export async function storedConsistencyProof (db: Queryable, m: number, n: number): Promise<Buffer[]> {
  return (await storedProofs(db, [consistencyLayout(m, n)]))[0] as Buffer[]
}

/** Range proof nodes for leaves [start, end) of the tree of `treeSize`, from the stored nodes. */
export async function storedRangeProof (db: Queryable, start: number, end: number, treeSize: number): Promise<RangeNode[]> {
  const layout = rangeLayout(start, end, treeSize)
  return rangeNodes(layout, (await storedProofs(db, [layout]))[0] as Buffer[])
}
