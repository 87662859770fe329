import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto'
import * as jose from 'jose'
import type { Directory } from '../directory/types.ts'
import { DomainError } from '../errors.ts'

/** Signature algorithms accepted on messages (S1). Nothing else is even parsed. */
export const MESSAGE_ALGORITHMS = ['EdDSA', 'ES256'] as const
export const MESSAGE_TYP = 'leix-message+json'

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

export interface VerifiedJws {
  /** Agency that owns the signing key. */
  agency: string
  kid: string
  alg: (typeof MESSAGE_ALGORITHMS)[number]
  /** Payload bytes as signed. */
  payload: Uint8Array
}

/** What was learned about a JWS before it failed, for the rejection event. */
export interface JwsFacts {
  kid?: string
  /** The agency the kid names (claimed until `verified`). */
  agency?: string
  /** True once the signature verified: only then is the sender identified. */
  verified?: boolean
}

/**
 * S1: checks the protected header against the allow-list, binds `kid` to a registered agency key
 * and verifies the signature. Header checks come first, so a disallowed algorithm never reaches a
 * key lookup or the payload. Throws a DomainError; fills `facts` as it learns.
 */
export async function verifyMessageJws (jws: string, directory: Directory, facts: JwsFacts = {}, keys: KeyCache = new KeyCache(), now: Date = new Date()): Promise<VerifiedJws> {
  if (!COMPACT_JWS.test(jws)) throw new DomainError('malformed-jws', 'expected a compact JWS: three base64url segments separated by dots')
  let header: jose.ProtectedHeaderParameters
  try {
    header = jose.decodeProtectedHeader(jws)
  } catch {
    throw new DomainError('malformed-jws', 'the protected header is not base64url-encoded JSON')
  }
  const alg = header.alg
  if (typeof alg !== 'string' || !(MESSAGE_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new DomainError('algorithm-not-allowed', `alg ${JSON.stringify(alg ?? null)} is not allowed; use one of ${MESSAGE_ALGORITHMS.join(', ')} (S1)`, {
      violations: [{ rule: 'S1', path: '/protected/alg', message: 'algorithm not on the allow-list' }],
    })
  }
  if (header.typ !== MESSAGE_TYP) throw new DomainError('bad-jws-type', `typ must be ${MESSAGE_TYP}, got ${JSON.stringify(header.typ ?? null)}`)
  if (header.crit !== undefined || header.jwk !== undefined || header.jku !== undefined || header.x5u !== undefined || header.x5c !== undefined) {
    throw new DomainError('malformed-jws', 'the protected header may not carry crit, jwk, jku, x5u or x5c: keys come from the directory only')
  }
  const kid = header.kid
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > 128) throw new DomainError('unknown-key', 'the protected header has no kid')
  facts.kid = kid
  const agencyId = directory.keyOwners.get(kid)
  const jwk = agencyId ? directory.agencies.get(agencyId)?.jwks.keys.find((k) => k.kid === kid) : undefined
  if (!agencyId || !jwk) throw new DomainError('unknown-key', `kid ${kid} is not registered to any agency`)
  facts.agency = agencyId
  refuseOutsideValidity(jwk, kid, agencyId, now)
  const keyAlg = jwk.kty === 'OKP' && jwk.crv === 'Ed25519' ? 'EdDSA' : jwk.kty === 'EC' && jwk.crv === 'P-256' ? 'ES256' : undefined
  if (keyAlg !== alg || (jwk.alg !== undefined && jwk.alg !== alg)) {
    throw new DomainError('algorithm-not-allowed', `alg ${alg} does not match key ${kid} (${keyAlg ?? 'unsupported key type'}) (S1)`, {
      violations: [{ rule: 'S1', path: '/protected/alg', message: 'algorithm does not match the registered key' }],
    })
  }
  let key: KeyObject
  try {
    key = keys.get(jwk)
  } catch {
    throw new DomainError('unknown-key', `key ${kid} in the directory cannot be used`)
  }
  // The header has been checked above; what is left of RFC 7515 is the signature over
  // ASCII(header.payload). node:crypto does it synchronously, several times faster than WebCrypto.
  const dot = jws.lastIndexOf('.')
  const signature = Buffer.from(jws.slice(dot + 1), 'base64url')
  const ok = verifySignature(alg === 'EdDSA' ? null : 'sha256', Buffer.from(jws.slice(0, dot), 'ascii'), alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key, signature)
  if (!ok) throw new DomainError('bad-signature', `the signature does not verify with key ${kid} of ${agencyId}`)
  facts.verified = true
  const payloadPart = jws.slice(jws.indexOf('.') + 1, dot)
  return { agency: agencyId, kid, alg, payload: Buffer.from(payloadPart, 'base64url') }
}

/** Key validity in the directory: `leix:validFrom`, `leix:validUntil`, `leix:revokedAt` (ISO 8601). */
type DirectoryKey = jose.JWK & { 'leix:validFrom'?: string; 'leix:validUntil'?: string; 'leix:revokedAt'?: string }

/**
 * S1: a key signs new messages only inside its validity window and until it is revoked. Checked
 * at receipt time, so receipts the broker issued earlier stay valid (they are the broker's signature).
 */
function refuseOutsideValidity (jwk: DirectoryKey, kid: string, agency: string, now: Date): void {
  const at = now.getTime()
  const refuse = (why: string, message: string): never => {
    throw new DomainError('key-not-valid', `key ${kid} of ${agency} ${message} (S1)`, {
      violations: [{ rule: 'S1', path: '/protected/kid', message: why }],
    })
  }
  const revokedAt = jwk['leix:revokedAt']
  if (revokedAt !== undefined && Date.parse(revokedAt) <= at) refuse('key revoked', `was revoked at ${revokedAt}`)
  const from = jwk['leix:validFrom']
  if (from !== undefined && Date.parse(from) > at) refuse('key not yet valid', `is not valid before ${from}`)
  const until = jwk['leix:validUntil']
  if (until !== undefined && Date.parse(until) <= at) refuse('key expired', `expired at ${until}`)
}

/**
 * Imported verification keys, by JWK object: importing a key costs more than verifying with it.
 * One cache per directory load (the app owns it), so a reloaded directory starts clean.
 */
export class KeyCache {
  readonly #keys = new WeakMap<jose.JWK, KeyObject>()
  /** The public key of a directory JWK; throws if the JWK cannot be imported. */
  get (jwk: jose.JWK): KeyObject {
    let key = this.#keys.get(jwk)
    if (!key) {
      const { kty, crv, x, y } = jwk
      key = createPublicKey({ key: { kty, crv, x, y } as import('node:crypto').JsonWebKey, format: 'jwk' })
      this.#keys.set(jwk, key)
    }
    return key
  }
}
