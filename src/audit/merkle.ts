// RFC 9162 Merkle tree (SHA-256) for the audit log, in two halves:
// - pure hashing and verification (used offline by auditors, no I/O);
// - proof generation from a store of *perfect* subtree hashes, so that proofs over millions of
//   events cost O(log n) lookups instead of re-hashing the log.
import { createHash } from 'node:crypto'

export const HASH_BYTES = 32

/** SHA-256 of the empty string: the RFC 9162 root of the empty tree. Shared: never write into it. */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest()
export const EMPTY_ROOT_HEX = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

export type MerkleErrorCode = 'bad-range' | 'bad-node' | 'bad-state' | 'bad-proof'

export class MerkleError extends Error {
  readonly code: MerkleErrorCode
  constructor (code: MerkleErrorCode, message: string) {
    super(message)
    this.name = 'MerkleError'
    this.code = code
  }
}

/** Hash of a perfect subtree: leaves [index * 2^level, (index + 1) * 2^level). Level 0 = leaf hashes. */
export interface PerfectNode { level: number, index: number, hash: Buffer }

/**
 * Where proofs read perfect subtree hashes from (the server backs it with a PostgreSQL table
 * filled from MerkleAccumulator.append). Must answer every node of a completed subtree.
 */
export type NodeSource = (level: number, index: number) => Promise<Uint8Array>

/** A subtree hash handed to a verifier holding only part of the leaves: MTH of leaves [lo, hi). */
export interface RangeNode { lo: number, hi: number, hash: Buffer }

// ---------------------------------------------------------------------------------------------
// Hashing

export function leafHash (canonicalEventBytes: Uint8Array): Buffer {
  return createHash('sha256').update(Uint8Array.of(0x00)).update(canonicalEventBytes).digest()
}

export function nodeHash (left: Uint8Array, right: Uint8Array): Buffer {
  return createHash('sha256').update(Uint8Array.of(0x01)).update(left).update(right).digest()
}

export function emptyRoot (): Buffer {
  return Buffer.from(EMPTY_ROOT)
}

/** Standard base64 (the wire form of hashes in checkpoints, proofs and exports). */
export function hashToBase64 (hash: Uint8Array): string {
  return Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('base64')
}

/** Strict inverse of hashToBase64: exactly 44 characters of canonical base64 for 32 bytes, else undefined. */
export function parseHashBase64 (value: unknown): Buffer | undefined {
  if (typeof value !== 'string' || value.length !== 44 || !/^[A-Za-z0-9+/]{43}=$/.test(value)) return undefined
  const bytes = Buffer.from(value, 'base64')
  // Node's decoder is lenient; the round trip rejects non-zero padding bits (two spellings of one hash).
  if (bytes.length !== HASH_BYTES || bytes.toString('base64') !== value) return undefined
  return bytes
}

// ---------------------------------------------------------------------------------------------
// Small integer helpers. Plain arithmetic, not bit operators: those truncate to 32 bits and a
// log may outgrow 2^31 events.

function isCount (n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

/** Largest power of two strictly below n (n >= 2): RFC 9162's split point k. */
function splitPoint (n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/** log2(n) when n is a power of two, else -1. */
function levelOf (n: number): number {
  let level = 0
  let size = 1
  while (size < n) { size *= 2; level++ }
  return size === n ? level : -1
}

function half (n: number): number {
  return Math.floor(n / 2)
}

function isOdd (n: number): boolean {
  return n % 2 === 1
}

function checkHash (hash: Uint8Array, what: string): Buffer {
  if (!(hash instanceof Uint8Array) || hash.byteLength !== HASH_BYTES) {
    throw new MerkleError('bad-node', `${what} is not a ${HASH_BYTES}-byte hash`)
  }
  return Buffer.from(hash)
}

/** Maximal aligned perfect subtrees tiling [lo, hi), left to right (a compact range). */
export function decompose (lo: number, hi: number): Array<{ level: number, index: number }> {
  const out: Array<{ level: number, index: number }> = []
  let at = lo
  while (at < hi) {
    let size = 1
    let level = 0
    while (at % (size * 2) === 0 && at + size * 2 <= hi) { size *= 2; level++ }
    out.push({ level, index: at / size })
    at += size
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Reference MTH

/** RFC 9162 §2.1.1 MTH over leaf hashes, by the definition (O(n) hashing). */
export function rootFromLeafHashes (leaves: readonly Uint8Array[]): Buffer {
  if (leaves.length === 0) return emptyRoot()
  const checked = leaves.map((leaf, i) => checkHash(leaf, `leaf ${i}`))
  const mth = (lo: number, hi: number): Buffer => {
    if (hi - lo === 1) return checked[lo] as Buffer
    const k = splitPoint(hi - lo)
    return nodeHash(mth(lo, lo + k), mth(lo + k, hi))
  }
  return mth(0, checked.length)
}

/**
 * MTH of [lo, hi) from perfect subtree hashes. A range that is itself a perfect aligned subtree is
 * one lookup; RFC-aligned ranges (every range a proof asks for) need O(log n) lookups.
 */
function mthFrom (get: (level: number, index: number) => Buffer, lo: number, hi: number): Buffer {
  const n = hi - lo
  const level = levelOf(n)
  if (level >= 0 && lo % n === 0) return get(level, lo / n)
  const k = splitPoint(n)
  return nodeHash(mthFrom(get, lo, lo + k), mthFrom(get, lo + k, hi))
}

// ---------------------------------------------------------------------------------------------
// Compact ranges and the sequencer's accumulator

function copyNode (node: PerfectNode): PerfectNode {
  return { level: node.level, index: node.index, hash: Buffer.from(node.hash) }
}

/**
 * The perfect subtrees tiling leaves [start, end): at most two per level, so O(log n) memory.
 * Lets a verifier hash a stream of leaves without keeping them.
 */
export class CompactRange {
  readonly #start: number
  #end: number
  readonly #nodes: PerfectNode[]

  constructor (start = 0) {
    if (!isCount(start)) throw new MerkleError('bad-range', `start ${String(start)} is not a leaf index`)
    this.#start = start
    this.#end = start
    this.#nodes = []
  }

  /** Rebuilds a range from its tiling (largest-first order as produced by `decompose`). */
  static fromNodes (start: number, end: number, hashes: readonly Uint8Array[]): CompactRange {
    if (!isCount(start) || !isCount(end) || start > end) {
      throw new MerkleError('bad-state', `range [${String(start)}, ${String(end)}) is not valid`)
    }
    const shape = decompose(start, end)
    if (shape.length !== hashes.length) {
      throw new MerkleError('bad-state', `range [${start}, ${end}) needs ${shape.length} hashes, got ${hashes.length}`)
    }
    const range = new CompactRange(start)
    range.#end = end
    shape.forEach((ref, i) => {
      range.#nodes.push({ ...ref, hash: checkHash(hashes[i] as Uint8Array, `node ${i}`) })
    })
    return range
  }

  get start (): number { return this.#start }
  get end (): number { return this.#end }
  get size (): number { return this.#end - this.#start }

  /** The tiling, left to right (copies). */
  get nodes (): PerfectNode[] { return this.#nodes.map(copyNode) }

  /** Appends leaf `end`; returns every perfect node this completes, the leaf itself first. */
  append (leaf: Uint8Array): PerfectNode[] {
    if (!Number.isSafeInteger(this.#end + 1)) throw new MerkleError('bad-range', 'tree size overflow')
    let node: PerfectNode = { level: 0, index: this.#end, hash: checkHash(leaf, 'leaf') }
    const completed: PerfectNode[] = [copyNode(node)]
    // Merge while the node to the left is our sibling: same level and a left child (even index).
    // Left-edge nodes of a range not starting at 0 have odd indexes: their siblings lie outside.
    for (;;) {
      const top = this.#nodes[this.#nodes.length - 1]
      if (top === undefined || top.level !== node.level || isOdd(top.index)) break
      this.#nodes.pop()
      node = { level: node.level + 1, index: top.index / 2, hash: nodeHash(top.hash, node.hash) }
      completed.push(copyNode(node))
    }
    this.#nodes.push(node)
    this.#end++
    return completed
  }

  /** The hash of one node of the tiling, or undefined. */
  node (level: number, index: number): Buffer | undefined {
    const found = this.#nodes.find((n) => n.level === level && n.index === index)
    return found === undefined ? undefined : Buffer.from(found.hash)
  }
}

/** Serialised accumulator: tree size and the base64 hashes of the perfect subtrees of [0, size), largest first. */
export interface AccumulatorState { size: number, stack: string[] }

/**
 * The sequencer's running tree: appends leaves, reports the perfect nodes to store, gives the
 * root of everything appended. Memory O(log n); `toJSON`/`from` let it resume after a restart.
 */
export class MerkleAccumulator {
  readonly #range: CompactRange

  constructor (range?: CompactRange) {
    this.#range = range ?? new CompactRange(0)
  }

  /** Restores from `toJSON()` output (or from the left nodes of a range proof). */
  static from (state: AccumulatorState): MerkleAccumulator {
    if (state === null || typeof state !== 'object' || !Array.isArray(state.stack)) {
      throw new MerkleError('bad-state', 'accumulator state must be {size, stack}')
    }
    const hashes = state.stack.map((h, i) => {
      const bytes = parseHashBase64(h)
      if (bytes === undefined) throw new MerkleError('bad-state', `stack[${i}] is not a base64 SHA-256 hash`)
      return bytes
    })
    return new MerkleAccumulator(CompactRange.fromNodes(0, state.size, hashes))
  }

  get size (): number { return this.#range.end }

  append (leaf: Uint8Array): PerfectNode[] {
    return this.#range.append(leaf)
  }

  /** RFC 9162 root of leaves [0, size): fold the tiling from the right. */
  root (): Buffer {
    const nodes = this.#range.nodes
    let acc = nodes.pop()?.hash
    if (acc === undefined) return emptyRoot()
    for (let i = nodes.length - 1; i >= 0; i--) acc = nodeHash((nodes[i] as PerfectNode).hash, acc)
    return acc
  }

  toJSON (): AccumulatorState {
    return { size: this.size, stack: this.#range.nodes.map((n) => hashToBase64(n.hash)) }
  }

  /** A copy of the tiling of [0, size). */
  toCompactRange (): CompactRange {
    return CompactRange.fromNodes(0, this.size, this.#range.nodes.map((n) => n.hash))
  }
}

// ---------------------------------------------------------------------------------------------
// Proof generation from a NodeSource

async function fetchNode (src: NodeSource, level: number, index: number): Promise<Buffer> {
  const hash = await src(level, index)
  return checkHash(hash, `node (${level}, ${index}) from the store`)
}

/** MTH of leaves [lo, hi) read from perfect nodes; independent halves are fetched concurrently. */
export async function subtreeHash (src: NodeSource, lo: number, hi: number): Promise<Buffer> {
  if (!isCount(lo) || !isCount(hi) || lo >= hi) throw new MerkleError('bad-range', `[${String(lo)}, ${String(hi)}) is not a non-empty range`)
  const n = hi - lo
  const level = levelOf(n)
  if (level >= 0 && lo % n === 0) return await fetchNode(src, level, lo / n)
  const k = splitPoint(n)
  const [left, right] = await Promise.all([subtreeHash(src, lo, lo + k), subtreeHash(src, lo + k, hi)])
  return nodeHash(left, right)
}

/** Ranges of RFC 9162 §2.1.3.1 PATH(index, D[0:treeSize]), nearest the leaf first. */
export function inclusionPathRanges (index: number, treeSize: number): Array<[number, number]> {
  if (!isCount(index) || !isCount(treeSize) || index >= treeSize) {
    throw new MerkleError('bad-range', `leaf ${String(index)} is not in a tree of size ${String(treeSize)}`)
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
  if (!isCount(m) || !isCount(n) || m > n) throw new MerkleError('bad-range', `no consistency proof from ${String(m)} to ${String(n)}`)
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

export async function inclusionProof (src: NodeSource, index: number, treeSize: number): Promise<Buffer[]> {
  return await Promise.all(inclusionPathRanges(index, treeSize).map(([lo, hi]) => subtreeHash(src, lo, hi)))
}

export async function consistencyProof (src: NodeSource, m: number, n: number): Promise<Buffer[]> {
  return await Promise.all(consistencyProofRanges(m, n).map(([lo, hi]) => subtreeHash(src, lo, hi)))
}

// ---------------------------------------------------------------------------------------------
// Verification (RFC 9162 algorithms, literally). Never throws on hostile input: answers false.

function isHash (h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.byteLength === HASH_BYTES
}

function sameHash (a: Uint8Array, b: Uint8Array): boolean {
  return isHash(a) && isHash(b) && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)
}

function allHashes (proof: readonly Uint8Array[]): boolean {
  return Array.isArray(proof) && proof.every(isHash)
}

/** RFC 9162 §2.1.3.2. */
export function verifyInclusion (leaf: Uint8Array, index: number, treeSize: number, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!isCount(index) || !isCount(treeSize) || index >= treeSize) return false
  if (!isHash(leaf) || !allHashes(proof)) return false
  let fn = index
  let sn = treeSize - 1
  let r: Buffer = Buffer.from(leaf)
  for (const p of proof) {
    if (sn === 0) return false
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r)
      while (!isOdd(fn) && fn !== 0) { fn = half(fn); sn = half(sn) }
    } else {
      r = nodeHash(r, p)
    }
    fn = half(fn); sn = half(sn)
  }
  return sn === 0 && sameHash(r, root)
}

/** RFC 9162 §2.1.4.2, plus the trivial cases it leaves to the caller (m = n, m = 0). */
export function verifyConsistency (m: number, n: number, oldRoot: Uint8Array, newRoot: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (!isCount(m) || !isCount(n) || m > n || !allHashes(proof)) return false
  if (!isHash(oldRoot) || !isHash(newRoot)) return false
  if (m === n) return proof.length === 0 && sameHash(oldRoot, newRoot)
  if (m === 0) return proof.length === 0 && sameHash(oldRoot, EMPTY_ROOT)
  if (proof.length === 0) return false
  const path = levelOf(m) >= 0 ? [Buffer.from(oldRoot), ...proof] : [...proof]
  let fn = m - 1
  let sn = n - 1
  while (isOdd(fn)) { fn = half(fn); sn = half(sn) }
  let fr: Buffer = Buffer.from(path[0] as Uint8Array)
  let sr: Buffer = fr
  for (const c of path.slice(1)) {
    if (sn === 0) return false
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      while (!isOdd(fn) && fn !== 0) { fn = half(fn); sn = half(sn) }
    } else {
      sr = nodeHash(sr, c)
    }
    fn = half(fn); sn = half(sn)
  }
  return sn === 0 && sameHash(fr, oldRoot) && sameHash(sr, newRoot)
}

// ---------------------------------------------------------------------------------------------
// Range proofs: a verifier holding leaves [start, end) of a tree of size treeSize

/**
 * The subtrees, left to right, a holder of leaves [start, end) lacks: walk the RFC 9162 recursion,
 * keep ranges wholly outside [start, end), split ranges that straddle it. Those left of `start`
 * are exactly `decompose(0, start)`, so a verifier can seed a MerkleAccumulator with them.
 */
export function rangeProofLayout (start: number, end: number, treeSize: number): Array<{ lo: number, hi: number }> {
  if (!isCount(start) || !isCount(end) || !isCount(treeSize) || start >= end || end > treeSize) {
    throw new MerkleError('bad-range', `[${String(start)}, ${String(end)}) is not a non-empty range of a tree of size ${String(treeSize)}`)
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

export async function rangeProof (src: NodeSource, start: number, end: number, treeSize: number): Promise<RangeNode[]> {
  const layout = rangeProofLayout(start, end, treeSize)
  const hashes = await Promise.all(layout.map(({ lo, hi }) => subtreeHash(src, lo, hi)))
  return layout.map(({ lo, hi }, i) => ({ lo, hi, hash: hashes[i] as Buffer }))
}

/**
 * Recomputes the root of size `treeSize` from the leaves [start, end) (their hashes, or a
 * CompactRange built over them while streaming) and `rangeProof` nodes. Throws MerkleError
 * 'bad-proof' when the nodes do not have the expected shape; compare the result to a signed root.
 */
export function rootFromRange (
  range: readonly Uint8Array[] | CompactRange,
  start: number, end: number, treeSize: number,
  nodes: ReadonlyArray<{ lo: number, hi: number, hash: Uint8Array }>
): Buffer {
  const layout = rangeProofLayout(start, end, treeSize)
  if (!Array.isArray(nodes) || nodes.length !== layout.length ||
      layout.some((l, i) => nodes[i]?.lo !== l.lo || nodes[i]?.hi !== l.hi)) {
    throw new MerkleError('bad-proof', `range proof for [${start}, ${end}) of ${treeSize} does not have the expected nodes`)
  }
  const outside = nodes.map((n, i) => {
    if (!(n.hash instanceof Uint8Array) || n.hash.byteLength !== HASH_BYTES) throw new MerkleError('bad-proof', `range proof node ${i} is not a hash`)
    return Buffer.from(n.hash)
  })

  let get: (level: number, index: number) => Buffer
  if (range instanceof CompactRange) {
    if (range.start !== start || range.end !== end) throw new MerkleError('bad-proof', `compact range covers [${range.start}, ${range.end}), not [${start}, ${end})`)
    get = (level, index) => {
      const hash = range.node(level, index)
      if (hash === undefined) throw new MerkleError('bad-proof', `compact range lacks node (${level}, ${index})`)
      return hash
    }
  } else {
    if (range.length !== end - start) throw new MerkleError('bad-proof', `expected ${end - start} leaf hashes, got ${range.length}`)
    get = (level, index) => {
      const lo = index * 2 ** level - start
      return rootFromLeafHashes(range.slice(lo, lo + 2 ** level))
    }
  }

  let next = 0
  const walk = (lo: number, hi: number): Buffer => {
    if (hi <= start || lo >= end) return outside[next++] as Buffer
    if (start <= lo && hi <= end) return mthFrom(get, lo, hi)
    const k = splitPoint(hi - lo)
    const left = walk(lo, lo + k)
    return nodeHash(left, walk(lo + k, hi))
  }
  return walk(0, treeSize)
}
