// RFC 9162 §2.1 hashing for the audit log (SHA-256, domain-separated leaves and nodes) and the
// base64 wire form of hashes in checkpoints, proofs and exports.
import { createHash, hash } from 'node:crypto'
import { VerificationError } from '../../errors.ts'

export const HASH_BYTES = 32

/** SHA-256 of the empty string: the RFC 9162 root of the empty tree. Shared: never write into it. */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest()
export const EMPTY_ROOT_HEX = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

// RFC 9162 domain separation prefixes. Read-only.
const LEAF_PREFIX = Uint8Array.of(0x00)
const NODE_PREFIX = Uint8Array.of(0x01)

export function leafHash (canonicalEventBytes: Uint8Array): Buffer {
  // One-shot crypto.hash over a prefixed copy costs less than a Hash object per leaf (a million
  // leaves in an offline verification). The prefix is LEAF_PREFIX's one byte.
  const prefixed = Buffer.allocUnsafe(canonicalEventBytes.byteLength + 1)
  prefixed.set(LEAF_PREFIX, 0)
  prefixed.set(canonicalEventBytes, 1)
  return hash('sha256', prefixed, 'buffer')
}

// One input buffer for every node hash (crypto.hash reads it before returning; a node's two
// children are always 32 bytes, HASH_BYTES): no allocation per node in a million-leaf tree.
const NODE_INPUT = Buffer.alloc(1 + 2 * HASH_BYTES)

export function nodeHash (left: Uint8Array, right: Uint8Array): Buffer {
  if (left.byteLength !== HASH_BYTES || right.byteLength !== HASH_BYTES) {
    return hash('sha256', Buffer.concat([NODE_PREFIX, left, right]), 'buffer')
  }
  NODE_INPUT[0] = NODE_PREFIX[0] as number
  NODE_INPUT.set(left, 1)
  NODE_INPUT.set(right, 1 + HASH_BYTES)
  return hash('sha256', NODE_INPUT, 'buffer')
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
  if (typeof value !== 'string' || value.length !== 44) return undefined
  const bytes = Buffer.from(value, 'base64')
  // Node's decoder is lenient (it skips what is not base64, reads the URL-safe alphabet too, and
  // ignores non-zero padding bits); the round trip is not: hashToBase64 writes exactly one spelling
  // of 32 bytes, so any other text (another alphabet, white space, other padding) differs from it.
  if (bytes.length !== HASH_BYTES || bytes.toString('base64') !== value) return undefined
  return bytes
}

export function isHash (h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.byteLength === HASH_BYTES
}

/** A copy of `hash`; throws VerificationError('bad-node') unless it is a 32-byte hash. */
export function checkHash (hash: Uint8Array, what: string): Buffer {
  if (!isHash(hash)) throw new VerificationError('bad-node', `${what} is not a ${HASH_BYTES}-byte hash`)
  return Buffer.from(hash)
}
