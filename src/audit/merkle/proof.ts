// Server-side proofs (transparency-dev/merkle `proof/proof.go`): which subtree hashes a proof
// needs, and which stored perfect nodes those are made of, computed from sizes alone; then the
// proof from the nodes' hashes. A store fetches `perfectNodesOf(layout)` in one query and calls
// `rehash`: no hash is needed to learn the shape.
import { VerificationError } from '../../errors.ts'
import { checkHash, nodeHash } from './hash.ts'
import { isCount, isPerfect, levelOf, splitPoint } from './sizes.ts'

/** A perfect subtree by position: leaves [index * 2^level, (index + 1) * 2^level). */
export interface NodeRef { level: number, index: number }

/** One hash of a proof: MTH of leaves [lo, hi), rehashed from the perfect subtrees `nodes` (left to right). */
export interface ProofNode { lo: number, hi: number, nodes: NodeRef[] }

/** A subtree hash handed to a verifier holding only part of the leaves: MTH of leaves [lo, hi). */
export interface RangeNode { lo: number, hi: number, hash: Buffer }

/**
 * Where proofs read perfect subtree hashes from, one node at a time (tests, benchmarks). The
 * server fetches a whole layout at once instead (store.ts).
 */
export type NodeSource = (level: number, index: number) => Promise<Uint8Array>

function checkRange (lo: number, hi: number): void {
  if (!isCount(lo) || !isCount(hi) || lo >= hi) throw new VerificationError('bad-range', `[${String(lo)}, ${String(hi)}) is not a non-empty range`)
}

/**
 * MTH of leaves [lo, hi) from perfect subtree hashes, by RFC 9162's split. A perfect aligned range
 * is one lookup; the ranges proofs ask for need O(log n) lookups.
 */
export function subtreeRoot (get: (level: number, index: number) => Buffer, lo: number, hi: number): Buffer {
  const n = hi - lo
  if (isPerfect(lo, hi)) return get(levelOf(n), lo / n)
  const k = splitPoint(n)
  return nodeHash(subtreeRoot(get, lo, lo + k), subtreeRoot(get, lo + k, hi))
}

/** The perfect nodes `subtreeRoot` reads for leaves [lo, hi), left to right. */
export function subtreeNodes (lo: number, hi: number): NodeRef[] {
  checkRange(lo, hi)
  const out: NodeRef[] = []
  const walk = (a: number, b: number): void => {
    const n = b - a
    if (isPerfect(a, b)) { out.push({ level: levelOf(n), index: a / n }); return }
    const k = splitPoint(n)
    walk(a, a + k)
    walk(a + k, b)
  }
  walk(lo, hi)
  return out
}

/** Ranges of RFC 9162 §2.1.3.1 PATH(index, D[0:treeSize]), nearest the leaf first. */
export function inclusionPathRanges (index: number, treeSize: number): Array<[number, number]> {
  if (!isCount(index) || !isCount(treeSize) || index >= treeSize) {
    throw new VerificationError('bad-range', `leaf ${String(index)} is not in a tree of size ${String(treeSize)}`)
  }
  const ranges: Array<[number, number]> = []
  let lo = 0
  let hi = treeSize
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo)
    if (index < lo + k) { ranges.push([lo + k, hi]); hi = lo + k } else { ranges.push([lo, lo + k]); lo += k }
  }
  return ranges.reverse()
}

/** Ranges of RFC 9162 §2.1.4.1 PROOF(m, D[0:n]) (SUBPROOF with b = true), in proof order. */
export function consistencyProofRanges (m: number, n: number): Array<[number, number]> {
  if (!isCount(m) || !isCount(n) || m > n) throw new VerificationError('bad-range', `no consistency proof from ${String(m)} to ${String(n)}`)
  const ranges: Array<[number, number]> = []
  if (m === 0 || m === n) return ranges
  let lo = 0
  let hi = n
  let rel = m
  let whole = true // SUBPROOF's b: the old tree is a complete subtree we already hold
  for (;;) {
    const size = hi - lo
    if (rel === size) { if (!whole) ranges.push([lo, hi]); break }
    const k = splitPoint(size)
    if (rel <= k) { ranges.push([lo + k, hi]); hi = lo + k } else { ranges.push([lo, lo + k]); lo += k; rel -= k; whole = false }
  }
  return ranges.reverse()
}

/**
 * The subtrees, left to right, a holder of leaves [start, end) lacks: walk the RFC 9162 recursion,
 * keep ranges wholly outside [start, end), split ranges that straddle it. Those left of `start`
 * are exactly `decompose(0, start)`, so a verifier can seed a MerkleAccumulator with them.
 */
export function rangeProofLayout (start: number, end: number, treeSize: number): Array<{ lo: number, hi: number }> {
  if (!isCount(start) || !isCount(end) || !isCount(treeSize) || start >= end || end > treeSize) {
    throw new VerificationError('bad-range', `[${String(start)}, ${String(end)}) is not a non-empty range of a tree of size ${String(treeSize)}`)
  }
  const out: Array<{ lo: number, hi: number }> = []
  const walk = (lo: number, hi: number): void => {
    if (hi <= start || lo >= end) { out.push({ lo, hi }); return }
    if (start <= lo && hi <= end) return
    const k = splitPoint(hi - lo)
    walk(lo, lo + k)
    walk(lo + k, hi)
  }
  walk(0, treeSize)
  return out
}

const withNodes = ([lo, hi]: readonly [number, number]): ProofNode => ({ lo, hi, nodes: subtreeNodes(lo, hi) })

/** The layout of an inclusion proof for leaf `index` in a tree of `treeSize`. */
export function inclusionLayout (index: number, treeSize: number): ProofNode[] {
  return inclusionPathRanges(index, treeSize).map(withNodes)
}

/** The layout of a consistency proof from size `m` to size `n`. */
export function consistencyLayout (m: number, n: number): ProofNode[] {
  return consistencyProofRanges(m, n).map(withNodes)
}

/** The layout of a range proof for leaves [start, end) of a tree of `treeSize`. */
export function rangeLayout (start: number, end: number, treeSize: number): ProofNode[] {
  return rangeProofLayout(start, end, treeSize).map(({ lo, hi }) => withNodes([lo, hi]))
}

/** The layout of one subtree hash, MTH of leaves [lo, hi). */
export function subtreeLayout (lo: number, hi: number): ProofNode[] {
  return [withNodes([lo, hi])]
}

const nodeKey = (level: number, index: number): string => `${level}:${index}`

/** Every distinct perfect node the layouts read, in first-use order: what a store fetches. */
export function perfectNodesOf (...layouts: ReadonlyArray<readonly ProofNode[]>): NodeRef[] {
  const seen = new Map<string, NodeRef>()
  for (const layout of layouts) {
    for (const p of layout) for (const r of p.nodes) seen.set(nodeKey(r.level, r.index), r)
  }
  return [...seen.values()]
}

/** Perfect node hashes by position, as fetched for `perfectNodesOf`. */
export class NodeHashes {
  readonly #hashes = new Map<string, Buffer>()

  set (level: number, index: number, hash: Uint8Array): void {
    this.#hashes.set(nodeKey(level, index), checkHash(hash, `node (${level}, ${index}) from the store`))
  }

  /** Throws VerificationError('bad-node') if the node was not fetched (the store lacks it). */
  get (level: number, index: number): Buffer {
    const hash = this.#hashes.get(nodeKey(level, index))
    if (hash === undefined) throw new VerificationError('bad-node', `the store lacks node (${level}, ${index})`)
    return hash
  }
}

/** The proof's hashes, one per layout entry (transparency-dev/merkle `Nodes.Rehash`). */
export function rehash (layout: readonly ProofNode[], hashes: NodeHashes): Buffer[] {
  return layout.map(({ lo, hi }) => subtreeRoot((level, index) => hashes.get(level, index), lo, hi))
}

/** Fetches a layout's perfect nodes from `src` concurrently, then rehashes. */
async function fromSource (src: NodeSource, layout: readonly ProofNode[]): Promise<Buffer[]> {
  const refs = perfectNodesOf(layout)
  const fetched = await Promise.all(refs.map(async ({ level, index }) => await src(level, index)))
  const hashes = new NodeHashes()
  refs.forEach(({ level, index }, i) => { hashes.set(level, index, fetched[i] as Uint8Array) })
  return rehash(layout, hashes)
}

/** MTH of leaves [lo, hi) read from perfect nodes. */
export async function subtreeHash (src: NodeSource, lo: number, hi: number): Promise<Buffer> {
  return (await fromSource(src, subtreeLayout(lo, hi)))[0] as Buffer
}

export async function inclusionProof (src: NodeSource, index: number, treeSize: number): Promise<Buffer[]> {
  return await fromSource(src, inclusionLayout(index, treeSize))
}

export async function consistencyProof (src: NodeSource, m: number, n: number): Promise<Buffer[]> {
  return await fromSource(src, consistencyLayout(m, n))
}

/** The range proof nodes, with their ranges, from the layout's hashes. */
export function rangeNodes (layout: readonly ProofNode[], hashes: readonly Buffer[]): RangeNode[] {
  return layout.map(({ lo, hi }, i) => ({ lo, hi, hash: hashes[i] as Buffer }))
}

export async function rangeProof (src: NodeSource, start: number, end: number, treeSize: number): Promise<RangeNode[]> {
  const layout = rangeLayout(start, end, treeSize)
  return rangeNodes(layout, await fromSource(src, layout))
}
