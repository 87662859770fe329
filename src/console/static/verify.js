// Audit proofs checked in the browser (WebCrypto, no library): the RFC 9162 inclusion proof of
// one event against the root hash of a checkpoint whose JWS signature is checked with the
// broker's JWKS. A port of src/audit/merkle/verify.ts, hash.ts and the checks of
// src/audit/checkpoint.ts. Every function answers; none trusts the server's own verdict.

const subtle = globalThis.crypto.subtle

export function fromBase64 (s) {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(s.length / 4) * 4, '='))
  return Uint8Array.from(bin, (c) => c.charCodeAt(0))
}

function concat (...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

async function sha256 (bytes) {
  return new Uint8Array(await subtle.digest('SHA-256', bytes))
}

export function sameBytes (a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/** SHA-256(0x00 ‖ line bytes). */
export async function leafHash (line) {
  return await sha256(concat(Uint8Array.of(0), new TextEncoder().encode(line)))
}

/** SHA-256(0x01 ‖ left ‖ right). */
export async function nodeHash (left, right) {
  return await sha256(concat(Uint8Array.of(1), left, right))
}

const isCount = (n) => Number.isSafeInteger(n) && n >= 0
const isHash = (h) => h instanceof Uint8Array && h.length === 32

/** RFC 9162 §2.1.3.2: false on any malformed input. */
export async function verifyInclusion (leaf, index, treeSize, proof, root) {
  if (!isCount(index) || !isCount(treeSize) || index >= treeSize) return false
  if (!isHash(leaf) || !isHash(root) || !Array.isArray(proof) || !proof.every(isHash)) return false
  let fn = index
  let sn = treeSize - 1
  let r = leaf
  for (const p of proof) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r)
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2) }
    } else {
      r = await nodeHash(r, p)
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2)
  }
  return sn === 0 && sameBytes(r, root)
}

const ALGORITHMS = {
  EdDSA: { key: (jwk) => jwk.kty === 'OKP' && jwk.crv === 'Ed25519', import: { name: 'Ed25519' }, verify: { name: 'Ed25519' } },
  ES256: { key: (jwk) => jwk.kty === 'EC' && jwk.crv === 'P-256', import: { name: 'ECDSA', namedCurve: 'P-256' }, verify: { name: 'ECDSA', hash: 'SHA-256' } },
}

/**
 * Checks a checkpoint's compact JWS with the JWKS: alg EdDSA or ES256, a kid naming exactly one
 * key of that type, no other header parameters than alg, kid, typ, a valid signature. Returns
 * the signed payload, or throws an Error saying what failed.
 */
export async function verifyCheckpointJws (jws, jwks) {
  const parts = typeof jws === 'string' ? jws.split('.') : []
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) throw new Error('not a compact JWS')
  const header = JSON.parse(new TextDecoder().decode(fromBase64(parts[0])))
  const alg = ALGORITHMS[header.alg]
  if (!alg || !Object.hasOwn(ALGORITHMS, header.alg)) throw new Error(`algorithm ${String(header.alg)} is not allowed`)
  if (Object.keys(header).some((k) => !['alg', 'kid', 'typ'].includes(k))) throw new Error('unexpected header parameters')
  const candidates = (jwks?.keys ?? []).filter((k) => k.kid === header.kid && alg.key(k) && (k.alg === undefined || k.alg === header.alg))
  if (candidates.length !== 1) throw new Error(`no single key "${String(header.kid)}" for ${header.alg} in the broker's JWKS`)
  const { kty, crv, x, y } = candidates[0]
  const key = await subtle.importKey('jwk', { kty, crv, x, ...(y ? { y } : {}) }, alg.import, false, ['verify'])
  const ok = await subtle.verify(alg.verify, key, fromBase64(parts[2]), new TextEncoder().encode(`${parts[0]}.${parts[1]}`))
  if (!ok) throw new Error(`the signature does not verify with key "${header.kid}"`)
  const payload = JSON.parse(new TextDecoder().decode(fromBase64(parts[1])))
  if (!payload || typeof payload.rootHash !== 'string' || !isCount(payload.treeSize)) throw new Error('the checkpoint payload lacks rootHash or treeSize')
  return { ...payload, kid: header.kid }
}

/**
 * The whole check of GET /v1/audit/proofs/inclusion's answer: the leaf is the hash of the line,
 * the proof leads to the root hash the broker signed (read from the verified payload, not from
 * the answer's plain fields), for the seq and tree size asked. `{ ok, steps: [{ step, ok, detail }] }`.
 */
export async function verifyProof (proof, jwks, expectedSeq) {
  const steps = []
  const step = (name, ok, detail = '') => { steps.push({ step: name, ok, detail }); return ok }
  try {
    const checkpoint = await verifyCheckpointJws(proof.checkpoint?.jws, jwks)
    step('signature', true, `${checkpoint.origin ?? ''} #${checkpoint.treeSize} (${checkpoint.kid})`)
    const leaf = await leafHash(proof.line)
    step('leaf', sameBytes(leaf, fromBase64(proof.leafHash)))
    const line = JSON.parse(proof.line)
    step('seq', proof.seq === expectedSeq && line.seq === expectedSeq, String(expectedSeq))
    step('size', checkpoint.treeSize === proof.treeSize)
    const included = await verifyInclusion(leaf, proof.seq, checkpoint.treeSize, proof.auditPath.map(fromBase64), fromBase64(checkpoint.rootHash))
    step('inclusion', included, `${proof.auditPath.length}`)
  } catch (err) {
    step('error', false, err instanceof Error ? err.message : String(err))
  }
  return { ok: steps.length > 0 && steps.every((s) => s.ok), steps }
}
