// Offline verification (transparency-dev/merkle `proof/verify.go`): the RFC 9162 algorithms,
// literally, over hashes the caller holds. No I/O. The boolean checks never throw on hostile
// input; they answer false.
import { VerificationError } from '../../errors.ts'
import type { CompactRange } from './compact.ts'
import { EMPTY_ROOT, HASH_BYTES, checkHash, emptyRoot, isHash, nodeHash } from './hash.ts'
import { rangeProofLayout, subtreeRoot } from './proof.ts'
import { half, isCount, isOdd, levelOf, splitPoint } from './sizes.ts'

function sameHash (a: Uint8Array, b: Uint8Array): boolean {
  return isHash(a) && isHash(b) && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)
}

function allHashes (proof: readonly Uint8Array[]): boolean {
  return Array.isArray(proof) && proof.every(isHash)
}

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

/**
 * Recomputes the root of size `treeSize` from the leaves [start, end) (their hashes, or a
 * CompactRange built over them while streaming) and `rangeProof` nodes. Throws
 * VerificationError('bad-proof') when the nodes do not have the expected shape; compare the
 * result to a signed root.
 */
export function rootFromRange (
  range: readonly Uint8Array[] | CompactRange,
  start: number, end: number, treeSize: number,
  nodes: ReadonlyArray<{ lo: number, hi: number, hash: Uint8Array }>
): Buffer {
  const layout = rangeProofLayout(start, end, treeSize)
  if (!Array.isArray(nodes) || nodes.length !== layout.length ||
      layout.some((l, i) => nodes[i]?.lo !== l.lo || nodes[i]?.hi !== l.hi)) {
    throw new VerificationError('bad-proof', `range proof for [${start}, ${end}) of ${treeSize} does not have the expected nodes`)
  }
  const outside = nodes.map((n, i) => {
    if (!(n.hash instanceof Uint8Array) || n.hash.byteLength !== HASH_BYTES) throw new VerificationError('bad-proof', `range proof node ${i} is not a hash`)
    return Buffer.from(n.hash)
  })

  let get: (level: number, index: number) => Buffer
  if (Array.isArray(range)) {
    const leaves = range as readonly Uint8Array[]
    if (leaves.length !== end - start) throw new VerificationError('bad-proof', `expected ${end - start} leaf hashes, got ${leaves.length}`)
    get = (level, index) => {
      const lo = index * 2 ** level - start
      return rootFromLeafHashes(leaves.slice(lo, lo + 2 ** level))
    }
  } else {
    const compact = range as CompactRange
    if (compact.start !== start || compact.end !== end) throw new VerificationError('bad-proof', `compact range covers [${compact.start}, ${compact.end}), not [${start}, ${end})`)
    get = (level, index) => {
      const hash = compact.node(level, index)
      if (hash === undefined) throw new VerificationError('bad-proof', `compact range lacks node (${level}, ${index})`)
      return hash
    }
  }

  let next = 0
  const walk = (lo: number, hi: number): Buffer => {
    if (hi <= start || lo >= end) return outside[next++] as Buffer
    if (start <= lo && hi <= end) return subtreeRoot(get, lo, hi)
    const k = splitPoint(hi - lo)
    const left = walk(lo, lo + k)
    return nodeHash(left, walk(lo + k, hi))
  }
  return walk(0, treeSize)
}
