import t from 'tap'
import { createHash } from 'node:crypto'
import { VerificationError } from '../../src/errors.ts'
import { CompactRange, MerkleAccumulator, decompose, type PerfectNode } from '../../src/audit/merkle/compact.ts'
import { EMPTY_ROOT, EMPTY_ROOT_HEX, hashToBase64, leafHash, nodeHash, parseHashBase64 } from '../../src/audit/merkle/hash.ts'
import {
  NodeHashes, consistencyLayout, consistencyProof, inclusionLayout, inclusionProof, perfectNodesOf, rangeLayout, rangeProof,
  rangeProofLayout, rehash, subtreeHash, type NodeSource, type ProofNode
} from '../../src/audit/merkle/proof.ts'
import { rootFromLeafHashes, rootFromRange, verifyConsistency, verifyInclusion } from '../../src/audit/merkle/verify.ts'

// ---- Independent brute force, straight from the RFC 9162 recursive definitions ----------------
const sha = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}
const H_LEAF = (d: Uint8Array): Buffer => sha(Buffer.from([0]), d)
const H_NODE = (l: Uint8Array, r: Uint8Array): Buffer => sha(Buffer.from([1]), l, r)
const kOf = (n: number): number => { let k = 1; while (k * 2 < n) k *= 2; return k }
const bMTH = (d: Buffer[]): Buffer => {
  if (d.length === 0) return sha()
  if (d.length === 1) return d[0] as Buffer
  const k = kOf(d.length)
  return H_NODE(bMTH(d.slice(0, k)), bMTH(d.slice(k)))
}
const bPATH = (m: number, d: Buffer[]): Buffer[] => {
  if (d.length === 1) return []
  const k = kOf(d.length)
  return m < k ? [...bPATH(m, d.slice(0, k)), bMTH(d.slice(k))] : [...bPATH(m - k, d.slice(k)), bMTH(d.slice(0, k))]
}
const bSUBPROOF = (m: number, d: Buffer[], b: boolean): Buffer[] => {
  if (m === d.length) return b ? [] : [bMTH(d)]
  const k = kOf(d.length)
  return m <= k
    ? [...bSUBPROOF(m, d.slice(0, k), b), bMTH(d.slice(k))]
    : [...bSUBPROOF(m - k, d.slice(k), false), bMTH(d.slice(0, k))]
}
const bPROOF = (m: number, d: Buffer[]): Buffer[] => (m === 0 || m === d.length) ? [] : bSUBPROOF(m, d, true)

// ---- Fixtures ---------------------------------------------------------------------------------
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const hexes = (bs: Uint8Array[]): string[] => bs.map(hex)
const flip = (b: Uint8Array, bit = 0): Buffer => { const c = Buffer.from(b); c[bit >> 3] = (c[bit >> 3] as number) ^ (1 << (bit & 7)); return c }

/** In-memory NodeSource filled from accumulator output, as the server fills its table. */
function buildStore (leaves: Buffer[]): { src: NodeSource, map: Map<string, Buffer>, acc: MerkleAccumulator, calls: { n: number } } {
  const map = new Map<string, Buffer>()
  const acc = new MerkleAccumulator()
  for (const leaf of leaves) for (const node of acc.append(leaf)) map.set(`${node.level}:${node.index}`, node.hash)
  const calls = { n: 0 }
  const src: NodeSource = async (level, index) => {
    calls.n++
    const h = map.get(`${level}:${index}`)
    if (h === undefined) throw new Error(`missing node ${level}:${index}`)
    return h
  }
  return { src, map, acc, calls }
}
const syntheticLeaves = (n: number): Buffer[] => Array.from({ length: n }, (_, i) => H_LEAF(Buffer.from(`leaf-${i}`)))

// RFC 6962 / Certificate Transparency reference inputs and values, as published in
// google/trillian merkle/log_verifier_test.go (there 1-based leaf numbers; 0-based here).
const CT_INPUTS = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f']
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328'
]
const CT_INCLUSION: Array<{ index: number, size: number, proof: string[] }> = [
  { index: 0, size: 8, proof: ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4'] },
  { index: 5, size: 8, proof: ['bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7'] },
  { index: 2, size: 3, proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  { index: 1, size: 5, proof: ['6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b'] }
]
const CT_CONSISTENCY: Array<{ m: number, n: number, proof: string[] }> = [
  { m: 1, n: 1, proof: [] },
  { m: 1, n: 8, proof: ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4'] },
  { m: 6, n: 8, proof: ['0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7'] },
  { m: 2, n: 5, proof: ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b'] }
]
const ctLeaves = CT_INPUTS.map((h) => leafHash(Buffer.from(h, 'hex')))

t.test('hash primitives', async (t) => {
  t.equal(hex(EMPTY_ROOT), EMPTY_ROOT_HEX)
  t.equal(hex(rootFromLeafHashes([])), EMPTY_ROOT_HEX)
  t.equal(hex(new MerkleAccumulator().root()), EMPTY_ROOT_HEX)
  t.equal(hex(leafHash(Buffer.from('00', 'hex'))), '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7')
  t.same(hex(leafHash(Buffer.from('abc'))), hex(H_LEAF(Buffer.from('abc'))))
  t.same(hex(nodeHash(Buffer.alloc(32, 1), Buffer.alloc(32, 2))), hex(H_NODE(Buffer.alloc(32, 1), Buffer.alloc(32, 2))))
  const b64 = hashToBase64(EMPTY_ROOT)
  t.equal(b64.length, 44)
  t.same(parseHashBase64(b64), EMPTY_ROOT)
  t.equal(parseHashBase64(b64.slice(0, 42) + 'V='), undefined, 'non-canonical padding bits refused')
  t.equal(parseHashBase64(b64.replace(/=$/, '')), undefined)
  t.equal(parseHashBase64(Buffer.alloc(33).toString('base64')), undefined)
  t.equal(parseHashBase64(42), undefined)
  // Every other spelling of 32 bytes that Node's lenient decoder would read is refused.
  const withBoth = Buffer.from('fbff' + '00'.repeat(28) + 'fbff', 'hex') // base64 holds '+' and '/'
  const canonical = hashToBase64(withBoth)
  t.match(canonical, /[+/]/)
  t.same(parseHashBase64(canonical), withBoth)
  for (const [what, text] of [
    ['URL-safe alphabet', canonical.replaceAll('+', '-').replaceAll('/', '_')],
    ['a space inside', canonical.slice(0, 10) + ' ' + canonical.slice(11)],
    ['a line break inside', canonical.slice(0, 43) + '\n'],
    ['double padding', canonical.slice(0, 42) + '=='],
    ['no padding, one more character', canonical.slice(0, 43) + 'A'],
    ['a character outside base64', canonical.slice(0, 5) + '*' + canonical.slice(6)],
  ] as const) {
    t.equal(text.length, 44, `${what}: 44 characters`)
    t.equal(parseHashBase64(text), undefined, `${what}: refused`)
  }
})

t.test('RFC 6962 reference vectors', async (t) => {
  const acc = new MerkleAccumulator()
  const map = new Map<string, Buffer>()
  const store: NodeSource = async (l, i) => map.get(`${l}:${i}`) as Buffer
  for (let n = 1; n <= 8; n++) {
    for (const node of acc.append(ctLeaves[n - 1] as Buffer)) map.set(`${node.level}:${node.index}`, node.hash)
    t.equal(hex(acc.root()), CT_ROOTS[n - 1], `accumulator root, size ${n}`)
    t.equal(hex(rootFromLeafHashes(ctLeaves.slice(0, n))), CT_ROOTS[n - 1], `reference MTH, size ${n}`)
    t.equal(hex(await subtreeHash(store, 0, n)), CT_ROOTS[n - 1], `subtreeHash, size ${n}`)
  }
  for (const v of CT_INCLUSION) {
    const proof = await inclusionProof(store, v.index, v.size)
    t.same(hexes(proof), v.proof, `inclusion leaf ${v.index} size ${v.size}`)
    t.ok(verifyInclusion(ctLeaves[v.index] as Buffer, v.index, v.size, v.proof.map((h) => Buffer.from(h, 'hex')), Buffer.from(CT_ROOTS[v.size - 1] as string, 'hex')))
  }
  for (const v of CT_CONSISTENCY) {
    const proof = await consistencyProof(store, v.m, v.n)
    t.same(hexes(proof), v.proof, `consistency ${v.m} -> ${v.n}`)
    t.ok(verifyConsistency(v.m, v.n, Buffer.from(CT_ROOTS[v.m - 1] as string, 'hex'), Buffer.from(CT_ROOTS[v.n - 1] as string, 'hex'), v.proof.map((h) => Buffer.from(h, 'hex'))))
  }
})

t.test('inclusion proofs: every index of every size 1..70', async (t) => {
  const leaves = syntheticLeaves(70)
  const map = new Map<string, Buffer>()
  const acc = new MerkleAccumulator()
  const src: NodeSource = async (l, i) => map.get(`${l}:${i}`) as Buffer
  let failures = 0
  for (let n = 1; n <= 70; n++) {
    for (const node of acc.append(leaves[n - 1] as Buffer)) map.set(`${node.level}:${node.index}`, node.hash)
    const d = leaves.slice(0, n)
    const root = acc.root()
    if (!root.equals(bMTH(d)) || !root.equals(rootFromLeafHashes(d))) failures++
    for (let i = 0; i < n; i++) {
      const proof = await inclusionProof(src, i, n)
      const leaf = d[i] as Buffer
      const expect = bPATH(i, d)
      if (hexes(proof).join() !== hexes(expect).join()) { failures++; t.fail(`path ${i}/${n} differs from brute force`) }
      if (!verifyInclusion(leaf, i, n, proof, root)) { failures++; t.fail(`proof ${i}/${n} does not verify`) }
      const bad: Array<[string, boolean]> = [
        ['index+1', verifyInclusion(leaf, i + 1, n, proof, root)],
        ['index-1', i > 0 && verifyInclusion(leaf, i - 1, n, proof, root)],
        ['index^2', (i ^ 2) !== i && verifyInclusion(leaf, i ^ 2, n, proof, root)],
        ['size*2', verifyInclusion(leaf, i, n * 2, proof, root)],
        ['size/2', verifyInclusion(leaf, i, Math.floor(n / 2), proof, root)],
        ['leaf', verifyInclusion(flip(leaf), i, n, proof, root)],
        ['root', verifyInclusion(leaf, i, n, proof, flip(root, 77))],
        ['extra', verifyInclusion(leaf, i, n, [...proof, root], root)],
        ['short', proof.length > 0 && verifyInclusion(leaf, i, n, proof.slice(0, -1), root)],
        ['not a hash', verifyInclusion(leaf, i, n, [...proof.slice(0, -1), Buffer.alloc(31)], root)]
      ]
      for (let j = 0; j < proof.length; j++) {
        for (const bit of [0, 100, 255]) {
          const p = proof.slice(); p[j] = flip(p[j] as Buffer, bit)
          bad.push([`bit ${bit} of ${j}`, verifyInclusion(leaf, i, n, p, root)])
        }
      }
      for (const [what, ok] of bad) if (ok) { failures++; t.fail(`${i}/${n}: tampered (${what}) verified`) }
    }
  }
  t.equal(failures, 0)
})

t.test('consistency proofs: every m <= n <= 70', async (t) => {
  const leaves = syntheticLeaves(70)
  const { src } = buildStore(leaves)
  const roots = [EMPTY_ROOT, ...leaves.map((_, i) => bMTH(leaves.slice(0, i + 1)))]
  let failures = 0
  for (let n = 0; n <= 70; n++) {
    const d = leaves.slice(0, n)
    for (let m = 0; m <= n; m++) {
      const proof = await consistencyProof(src, m, n)
      const oldRoot = roots[m] as Buffer
      const newRoot = roots[n] as Buffer
      if (hexes(proof).join() !== hexes(bPROOF(m, d)).join()) { failures++; t.fail(`proof ${m}->${n} differs from brute force`) }
      if (!verifyConsistency(m, n, oldRoot, newRoot, proof)) { failures++; t.fail(`proof ${m}->${n} does not verify`) }
      const bad: Array<[string, boolean]> = [
        ['old root', verifyConsistency(m, n, flip(oldRoot), newRoot, proof)],
        // The empty tree is consistent with every tree, so only m > 0 binds the new root.
        ['new root', m > 0 && verifyConsistency(m, n, oldRoot, flip(newRoot, 200), proof)],
        ['extra', verifyConsistency(m, n, oldRoot, newRoot, [...proof, newRoot])],
        ['m > n', n > 0 && verifyConsistency(n, m === n ? n - 1 : m, newRoot, oldRoot, proof)]
      ]
      if (proof.length > 0) {
        bad.push(['m+1', verifyConsistency(m + 1, n, oldRoot, newRoot, proof)])
        bad.push(['m-1', verifyConsistency(m - 1, n, oldRoot, newRoot, proof)])
        bad.push(['n*2', verifyConsistency(m, n * 2, oldRoot, newRoot, proof)])
        bad.push(['short', verifyConsistency(m, n, oldRoot, newRoot, proof.slice(0, -1))])
        bad.push(['empty', verifyConsistency(m, n, oldRoot, newRoot, [])])
        bad.push(['swapped roots', verifyConsistency(m, n, newRoot, oldRoot, proof)])
        for (let j = 0; j < proof.length; j++) {
          const p = proof.slice(); p[j] = flip(p[j] as Buffer, 13)
          bad.push([`bit of ${j}`, verifyConsistency(m, n, oldRoot, newRoot, p)])
        }
      }
      for (const [what, ok] of bad) if (ok) { failures++; t.fail(`${m}->${n}: tampered (${what}) verified`) }
    }
  }
  t.equal(failures, 0)
  t.notOk(verifyConsistency(0, 5, flip(EMPTY_ROOT), roots[5] as Buffer, []), 'size 0 must have the empty root')
  t.notOk(verifyConsistency(1, 2, roots[1] as Buffer, roots[2] as Buffer, []), 'empty proof for 1->2')
})

t.test('subtreeHash: aligned ranges in O(log n) lookups, any range correct', async (t) => {
  const n = 2 ** 16 + 12345
  const leaves = syntheticLeaves(n)
  const { src, calls, acc } = buildStore(leaves)
  calls.n = 0
  t.ok((await subtreeHash(src, 0, n)).equals(acc.root()))
  t.ok(calls.n <= 17, `root of ${n} leaves in ${calls.n} lookups`)
  t.equal(calls.n, decompose(0, n).length)
  calls.n = 0
  const proof = await inclusionProof(src, 54321, n)
  t.ok(calls.n <= 2 * 17 * 17, `inclusion proof in ${calls.n} lookups`)
  t.ok(verifyInclusion(leaves[54321] as Buffer, 54321, n, proof, acc.root()))
  calls.n = 0
  const cproof = await consistencyProof(src, 40000, n)
  t.ok(calls.n <= 2 * 17 * 17, `consistency proof in ${calls.n} lookups`)
  t.ok(verifyConsistency(40000, n, rootFromLeafHashes(leaves.slice(0, 40000)), acc.root(), cproof))
  // Unaligned ranges are legal (MTH of that sub-list), just not cheap.
  const small = leaves.slice(0, 40)
  const s2 = buildStore(small)
  for (const [lo, hi] of [[3, 7], [5, 6], [1, 40], [17, 33], [32, 40]] as Array<[number, number]>) {
    t.ok((await subtreeHash(s2.src, lo, hi)).equals(bMTH(small.slice(lo, hi))), `[${lo}, ${hi})`)
  }
  await t.rejects(subtreeHash(src, 5, 5), VerificationError)
  await t.rejects(inclusionProof(src, n, n), { code: 'bad-range' })
  await t.rejects(consistencyProof(src, 3, 2), { code: 'bad-range' })
  await t.rejects(subtreeHash(async () => Buffer.alloc(3), 0, 1), { code: 'bad-node' })
})

t.test('accumulator: completed nodes, save and restore at every size', async (t) => {
  const leaves = syntheticLeaves(100)
  const acc = new MerkleAccumulator()
  const seen = new Map<string, Buffer>()
  let failures = 0
  for (let i = 0; i < leaves.length; i++) {
    // Restore from the serialised state and carry on with the copy: must behave identically.
    const state = JSON.parse(JSON.stringify(acc)) as ReturnType<MerkleAccumulator['toJSON']>
    const copy = MerkleAccumulator.from(state)
    if (!copy.root().equals(acc.root()) || copy.size !== i) failures++
    const done: PerfectNode[] = acc.append(leaves[i] as Buffer)
    const done2 = copy.append(leaves[i] as Buffer)
    if (JSON.stringify(done.map((n) => [n.level, n.index, hex(n.hash)])) !== JSON.stringify(done2.map((n) => [n.level, n.index, hex(n.hash)]))) failures++
    if (done[0]?.level !== 0 || done[0]?.index !== i || !done[0].hash.equals(leaves[i] as Buffer)) failures++
    for (const node of done) {
      const lo = node.index * 2 ** node.level
      if (!node.hash.equals(bMTH(leaves.slice(lo, lo + 2 ** node.level)))) failures++
      seen.set(`${node.level}:${node.index}`, node.hash)
    }
    if (!acc.root().equals(bMTH(leaves.slice(0, i + 1)))) failures++
    if (state.stack.length > 7) failures++
  }
  t.equal(failures, 0)
  // Every perfect subtree of the final tree was reported exactly once.
  let expected = 0
  for (let level = 0; 2 ** level <= 100; level++) expected += Math.floor(100 / 2 ** level)
  t.equal(seen.size, expected)
  t.throws(() => MerkleAccumulator.from({ size: 3, stack: [hashToBase64(EMPTY_ROOT)] }), { code: 'bad-state' })
  t.throws(() => MerkleAccumulator.from({ size: 1, stack: ['nope'] }), { code: 'bad-state' })
  t.throws(() => MerkleAccumulator.from({ size: -1, stack: [] }), { code: 'bad-state' })
  t.throws(() => acc.append(Buffer.alloc(31)), { code: 'bad-node' })
  const r = acc.root(); r.fill(0)
  t.notOk(acc.root().equals(r), 'root() returns a copy')
})

t.test('range proofs: every [start, end) of every size 1..33', async (t) => {
  const leaves = syntheticLeaves(33)
  const { src } = buildStore(leaves)
  let failures = 0
  for (let n = 1; n <= 33; n++) {
    const root = bMTH(leaves.slice(0, n))
    for (let start = 0; start < n; start++) {
      for (let end = start + 1; end <= n; end++) {
        const nodes = await rangeProof(src, start, end, n)
        const held = leaves.slice(start, end)
        if (!rootFromRange(held, start, end, n, nodes).equals(root)) { failures++; t.fail(`array ${start}..${end}/${n}`) }
        const cr = new CompactRange(start)
        for (const leaf of held) cr.append(leaf)
        if (!rootFromRange(cr, start, end, n, nodes).equals(root)) { failures++; t.fail(`compact ${start}..${end}/${n}`) }
        // Shape facts the export verifier relies on.
        const left = nodes.filter((x) => x.hi <= start)
        const shape = decompose(0, start).map(({ level, index }) => [index * 2 ** level, (index + 1) * 2 ** level])
        if (JSON.stringify(left.map((x) => [x.lo, x.hi])) !== JSON.stringify(shape)) { failures++; t.fail(`left shape ${start}..${end}/${n}`) }
        const right = nodes.filter((x) => x.lo >= end).map((x) => [x.lo, x.hi])
        if (JSON.stringify(right) !== JSON.stringify(rangeProofLayout(0, end, n).map((x) => [x.lo, x.hi]))) { failures++; t.fail(`right shape ${start}..${end}/${n}`) }
        const seeded = MerkleAccumulator.from({ size: start, stack: left.map((x) => hashToBase64(x.hash)) })
        for (const leaf of held) seeded.append(leaf)
        if (!rootFromRange(seeded.toCompactRange(), 0, end, n, nodes.filter((x) => x.lo >= end)).equals(root)) { failures++; t.fail(`seeded ${start}..${end}/${n}`) }
        if (end === n && !seeded.root().equals(root)) failures++
        for (let j = 0; j < nodes.length; j++) {
          const forged = nodes.map((x, k) => k === j ? { ...x, hash: flip(x.hash) } : x)
          if (rootFromRange(held, start, end, n, forged).equals(root)) { failures++; t.fail(`forged node ${j}`) }
        }
        if (held.length > 0 && rootFromRange([flip(held[0] as Buffer), ...held.slice(1)], start, end, n, nodes).equals(root)) failures++
      }
    }
  }
  t.equal(failures, 0)
  const nodes = await rangeProof(src, 5, 9, 20)
  t.throws(() => rootFromRange(leaves.slice(5, 9), 5, 9, 20, nodes.slice(1)), { code: 'bad-proof' })
  t.throws(() => rootFromRange(leaves.slice(5, 9), 5, 9, 21, nodes), { code: 'bad-proof' })
  t.throws(() => rootFromRange(leaves.slice(5, 8), 5, 9, 20, nodes), { code: 'bad-proof' })
  t.throws(() => rangeProofLayout(5, 5, 20), { code: 'bad-range' })
  t.throws(() => rangeProofLayout(5, 21, 20), { code: 'bad-range' })
})

// ---- Proof layouts: which stored nodes a proof reads, from sizes alone ------------------------
t.test('proof layouts from sizes: ranges, nodes and rehash against a brute-force tree', async (t) => {
  const leaves = syntheticLeaves(1100)
  /** Every perfect node a tree of `size` has, hashed by brute force; nothing else. */
  const treeNodes = (size: number): NodeHashes => {
    const hashes = new NodeHashes()
    for (let level = 0; 2 ** level <= size; level++) {
      for (let index = 0; (index + 1) * 2 ** level <= size; index++) {
        hashes.set(level, index, bMTH(leaves.slice(index * 2 ** level, (index + 1) * 2 ** level)))
      }
    }
    return hashes
  }
  const bits = (n: number): number => Math.ceil(Math.log2(Math.max(n, 2)))
  const check = (t: Assert, layout: ProofNode[], size: number, expected: Buffer[], what: string): void => {
    const nodes = perfectNodesOf(layout)
    t.ok(nodes.every(({ level, index }) => (index + 1) * 2 ** level <= size), `${what}: only nodes a tree of ${size} has`)
    t.ok(nodes.length <= 2 * bits(size), `${what}: ${nodes.length} nodes, O(log n)`)
    for (const p of layout) {
      // The perfect nodes of one proof hash tile its range exactly, left to right.
      let at = p.lo
      for (const { level, index } of p.nodes) { if (index * 2 ** level !== at) break; at += 2 ** level }
      t.equal(at, p.hi, `${what}: nodes tile [${p.lo}, ${p.hi})`)
    }
    t.same(hexes(rehash(layout, treeNodes(size))), hexes(expected), what)
  }
  type Assert = Pick<typeof t, 'ok' | 'equal' | 'same'>
  const inclusionCases: Array<[number, number]> = [[0, 1], [0, 2], [1, 2], [2, 3], [0, 7], [6, 7], [5, 8], [4, 5], [1, 5], [31, 32], [32, 33], [0, 33], [100, 129], [1000, 1025], [1023, 1100], [1099, 1100]]
  for (const [index, size] of inclusionCases) {
    check(t, inclusionLayout(index, size), size, bPATH(index, leaves.slice(0, size)), `inclusion (${index}, ${size})`)
  }
  const consistencyCases: Array<[number, number]> = [[1, 1], [1, 2], [1, 8], [3, 7], [4, 7], [6, 8], [2, 5], [7, 8], [8, 9], [15, 17], [16, 33], [33, 64], [100, 1100], [512, 1025], [1024, 1100], [1099, 1100]]
  for (const [m, n] of consistencyCases) {
    check(t, consistencyLayout(m, n), n, bPROOF(m, leaves.slice(0, n)), `consistency (${m}, ${n})`)
  }
  for (const [start, end, size] of [[0, 1, 2], [1, 2, 2], [3, 9, 9], [5, 6, 13], [100, 700, 1100], [0, 1024, 1100]] as const) {
    const layout = rangeLayout(start, end, size)
    t.same(layout.map(({ lo, hi }) => [lo, hi]), rangeProofLayout(start, end, size).map(({ lo, hi }) => [lo, hi]), `range [${start}, ${end}) of ${size}: the verifier's layout`)
    check(t, layout, size, layout.map(({ lo, hi }) => bMTH(leaves.slice(lo, hi))), `range [${start}, ${end}) of ${size}`)
  }
  // A node the store does not have is named, not guessed.
  t.throws(() => rehash(inclusionLayout(0, 8), new NodeHashes()), { code: 'bad-node', message: /lacks node/ })
  t.throws(() => inclusionLayout(8, 8), { code: 'bad-range' })
  t.throws(() => consistencyLayout(9, 8), { code: 'bad-range' })
})
