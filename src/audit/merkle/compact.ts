// Compact ranges (transparency-dev/merkle `compact/`): the perfect subtrees tiling a run of
// leaves, at most two per level, so a stream of leaves is hashed in O(log n) memory. The
// sequencer's running tree (MerkleAccumulator) is the compact range of [0, size).
import { VerificationError } from '../../errors.ts'
import { checkHash, emptyRoot, hashToBase64, nodeHash, parseHashBase64 } from './hash.ts'
import { isCount, isOdd } from './sizes.ts'

/** Hash of a perfect subtree: leaves [index * 2^level, (index + 1) * 2^level). Level 0 = leaf hashes. */
export interface PerfectNode { level: number, index: number, hash: Buffer }

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
    if (!isCount(start)) throw new VerificationError('bad-range', `start ${String(start)} is not a leaf index`)
    this.#start = start
    this.#end = start
    this.#nodes = []
  }

  /** Rebuilds a range from its tiling (largest-first order as produced by `decompose`). */
  static fromNodes (start: number, end: number, hashes: readonly Uint8Array[]): CompactRange {
    if (!isCount(start) || !isCount(end) || start > end) {
      throw new VerificationError('bad-state', `range [${String(start)}, ${String(end)}) is not valid`)
    }
    const shape = decompose(start, end)
    if (shape.length !== hashes.length) {
      throw new VerificationError('bad-state', `range [${start}, ${end}) needs ${shape.length} hashes, got ${hashes.length}`)
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

  /**
   * Appends leaf `end`; returns every perfect node this completes, the leaf itself first. The
   * returned hashes are the range's own (not copies, which cost more than the hashing on a
   * million leaves): read them, never write into them.
   */
  append (leaf: Uint8Array): PerfectNode[] {
    const completed: PerfectNode[] = []
    this.#append(leaf, completed)
    return completed
  }

  /** Appends leaf `end` when the completed nodes are not needed (a verifier streaming leaves). */
  push (leaf: Uint8Array): void {
    this.#append(leaf, undefined)
  }

  #append (leaf: Uint8Array, completed: PerfectNode[] | undefined): void {
    if (!Number.isSafeInteger(this.#end + 1)) throw new VerificationError('bad-range', 'tree size overflow')
    let node: PerfectNode = { level: 0, index: this.#end, hash: checkHash(leaf, 'leaf') }
    completed?.push(node)
    // Merge while the node to the left is our sibling: same level and a left child (even index).
    // Left-edge nodes of a range not starting at 0 have odd indexes: their siblings lie outside.
    for (;;) {
      const top = this.#nodes[this.#nodes.length - 1]
      if (top === undefined || top.level !== node.level || isOdd(top.index)) break
      this.#nodes.pop()
      node = { level: node.level + 1, index: top.index / 2, hash: nodeHash(top.hash, node.hash) }
      completed?.push(node)
    }
    this.#nodes.push(node)
    this.#end++
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
      throw new VerificationError('bad-state', 'accumulator state must be {size, stack}')
    }
    const hashes = state.stack.map((h, i) => {
      const bytes = parseHashBase64(h)
      if (bytes === undefined) throw new VerificationError('bad-state', `stack[${i}] is not a base64 SHA-256 hash`)
      return bytes
    })
    return new MerkleAccumulator(CompactRange.fromNodes(0, state.size, hashes))
  }

  get size (): number { return this.#range.end }

  /** See CompactRange.append: the returned hashes are read-only. */
  append (leaf: Uint8Array): PerfectNode[] {
    return this.#range.append(leaf)
  }

  push (leaf: Uint8Array): void {
    this.#range.push(leaf)
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
