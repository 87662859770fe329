// Signed tree heads ("checkpoints"): compact JWS by the broker's Ed25519 key over
// {origin, treeSize, rootHash, timestamp}. An auditor holding one can hold leix to that root forever.
import type { KeyObject } from 'node:crypto'
import { CompactSign, compactVerify, createLocalJWKSet, decodeProtectedHeader, errors, type CryptoKey, type JWK } from 'jose'
import { canonicalBytes, isCanonical } from './canonical.ts'
import { EMPTY_ROOT, hashToBase64, parseHashBase64 } from './merkle/hash.ts'
import { VerificationError } from '../errors.ts'

export const CHECKPOINT_TYP = 'leix-checkpoint+json'
export const CHECKPOINT_ALG = 'EdDSA'

export interface Checkpoint {
  /** Names the log (e.g. the broker's base URL), so checkpoints of two logs are never confused. */
  origin: string
  treeSize: number
  /** Standard base64 of the 32-byte RFC 9162 root. */
  rootHash: string
  /** ISO 8601 UTC, e.g. 2026-01-01T00:00:00.000Z. */
  timestamp: string
}

export interface VerifiedCheckpoint extends Checkpoint {
  /** The key that signed it. */
  kid: string
}

export interface CheckpointSigningKey {
  privateKey: CryptoKey | KeyObject
  kid: string
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/
const PAYLOAD_KEYS = ['origin', 'rootHash', 'timestamp', 'treeSize']
const HEADER_KEYS = ['alg', 'kid', 'typ']

/** Throws VerificationError('bad-payload') unless `value` is exactly a Checkpoint. */
export function assertCheckpoint (value: unknown): asserts value is Checkpoint {
  const fail = (why: string): never => { throw new VerificationError('bad-payload', `checkpoint payload: ${why}`) }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('not an object')
  const body = value as Record<string, unknown>
  const keys = Object.keys(body).sort()
  // Exactly these members: a signed statement must not carry fields a verifier silently ignores.
  if (keys.join() !== PAYLOAD_KEYS.join()) fail(`members must be exactly ${PAYLOAD_KEYS.join(', ')}`)
  if (typeof body.origin !== 'string' || body.origin.length === 0 || body.origin.length > 512) fail('origin must be a non-empty string')
  if (typeof body.treeSize !== 'number' || !Number.isSafeInteger(body.treeSize) || body.treeSize < 0) fail('treeSize must be a non-negative integer')
  const root = parseHashBase64(body.rootHash)
  if (root === undefined) fail('rootHash must be the 44-character base64 of 32 bytes')
  if (body.treeSize === 0 && !(root as Buffer).equals(EMPTY_ROOT)) fail('an empty tree has the empty root')
  if (typeof body.timestamp !== 'string' || !ISO_UTC.test(body.timestamp) || Number.isNaN(Date.parse(body.timestamp))) {
    fail('timestamp must be ISO 8601 UTC (YYYY-MM-DDTHH:MM:SS[.fff]Z)')
  }
}

/** Builds a checkpoint body from a root hash and a time. */
export function checkpointBody (origin: string, treeSize: number, root: Uint8Array, at: Date): Checkpoint {
  const body = { origin, treeSize, rootHash: hashToBase64(root), timestamp: at.toISOString() }
  assertCheckpoint(body)
  return body
}

export async function signCheckpoint (body: Checkpoint, key: CheckpointSigningKey): Promise<string> {
  assertCheckpoint(body)
  if (typeof key.kid !== 'string' || key.kid.length === 0) throw new VerificationError('bad-header', 'kid must be a non-empty string')
  const payload = { origin: body.origin, treeSize: body.treeSize, rootHash: body.rootHash, timestamp: body.timestamp }
  // Canonical payload bytes: one checkpoint has one encoding, and verifiers can insist on it.
  return await new CompactSign(canonicalBytes(payload))
    .setProtectedHeader({ alg: CHECKPOINT_ALG, kid: key.kid, typ: CHECKPOINT_TYP })
    .sign(key.privateKey)
}

function splitCompact (jws: string): [string, string, string] {
  if (typeof jws !== 'string') throw new VerificationError('malformed', 'checkpoint is not a string')
  const parts = jws.split('.')
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) {
    throw new VerificationError('malformed', 'checkpoint is not a compact JWS')
  }
  return parts as [string, string, string]
}

function checkHeader (jws: string): { kid: string } {
  let header: Record<string, unknown>
  try {
    header = decodeProtectedHeader(jws) as Record<string, unknown>
  } catch (err) {
    throw new VerificationError('malformed', 'checkpoint header is not decodable', { cause: err })
  }
  // Checked before any key lookup: a checkpoint claiming another algorithm is refused outright.
  if (header.alg !== CHECKPOINT_ALG) throw new VerificationError('bad-algorithm', `checkpoint alg must be ${CHECKPOINT_ALG}, got ${String(header.alg)}`)
  if (header.typ !== CHECKPOINT_TYP) throw new VerificationError('bad-header', `checkpoint typ must be ${CHECKPOINT_TYP}`)
  if (typeof header.kid !== 'string' || header.kid.length === 0) throw new VerificationError('bad-header', 'checkpoint kid missing')
  const extra = Object.keys(header).filter((k) => !HEADER_KEYS.includes(k))
  // No crit, b64, jku, jwk...: parameters that would change how the signature is read.
  if (extra.length > 0) throw new VerificationError('bad-header', `unexpected header parameters: ${extra.join(', ')}`)
  return { kid: header.kid }
}

function parsePayload (bytes: Uint8Array): Checkpoint {
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch (err) {
    throw new VerificationError('bad-payload', 'checkpoint payload is not UTF-8', { cause: err })
  }
  if (!isCanonical(text)) throw new VerificationError('bad-payload', 'checkpoint payload is not canonical JSON (RFC 8785)')
  const value: unknown = JSON.parse(text)
  assertCheckpoint(value)
  return value
}

/**
 * A verifier bound to one key set (built once: an export carries many checkpoints).
 * Keys are resolved by kid. Note jose only offers a JWK whose own `alg` is absent or `EdDSA`.
 */
export function checkpointVerifier (jwks: { keys: JWK[] }): (jws: string) => Promise<VerifiedCheckpoint> {
  let keySet: ReturnType<typeof createLocalJWKSet>
  try {
    keySet = createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0])
  } catch (err) {
    throw new VerificationError('bad-jwks', 'key set is not a JWKS', { cause: err })
  }
  return async (jws: string): Promise<VerifiedCheckpoint> => {
    splitCompact(jws)
    const { kid } = checkHeader(jws)
    let payload: Uint8Array
    try {
      ({ payload } = await compactVerify(jws, keySet, { algorithms: [CHECKPOINT_ALG] }))
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
        throw new VerificationError('unknown-key', `no single Ed25519 key "${kid}" in the key set`, { cause: err })
      }
      if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
        throw new VerificationError('bad-algorithm', 'checkpoint algorithm not allowed', { cause: err })
      }
      if (err instanceof errors.JWSSignatureVerificationFailed) {
        throw new VerificationError('bad-signature', `checkpoint signature does not verify with key "${kid}"`, { cause: err })
      }
      throw new VerificationError('malformed', `checkpoint cannot be verified: ${(err as Error).message}`, { cause: err })
    }
    return { ...parsePayload(payload), kid }
  }
}

export async function verifyCheckpoint (jws: string, jwks: { keys: JWK[] }): Promise<VerifiedCheckpoint> {
  return await checkpointVerifier(jwks)(jws)
}

/** Header and payload WITHOUT checking the signature: for display only, never for trust. */
export function parseCheckpointUnverified (jws: string): { header: { alg: string, kid: string, typ: string }, payload: Checkpoint } {
  const [, body] = splitCompact(jws)
  const { kid } = checkHeader(jws)
  return { header: { alg: CHECKPOINT_ALG, kid, typ: CHECKPOINT_TYP }, payload: parsePayload(Buffer.from(body, 'base64url')) }
}

/** The root of a (verified) checkpoint as bytes. */
export function checkpointRoot (cp: Checkpoint): Buffer {
  const root = parseHashBase64(cp.rootHash)
  if (root === undefined) throw new VerificationError('bad-payload', 'rootHash is not a base64 SHA-256 hash')
  return root
}
