import * as jose from 'jose'
import type { Directory } from '../directory/types.ts'
import { Problem } from '../http/problems.ts'

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
  agency?: string
}

/**
 * S1: checks the protected header against the allow-list, binds `kid` to a registered agency key
 * and verifies the signature. Header checks come first, so a disallowed algorithm never reaches a
 * key lookup or the payload. Throws a Problem; fills `facts` as it learns.
 */
export async function verifyMessageJws(jws: string, directory: Directory, facts: JwsFacts = {}): Promise<VerifiedJws> {
  if (!COMPACT_JWS.test(jws)) throw new Problem('malformed-jws', 'expected a compact JWS: three base64url segments separated by dots')
  let header: jose.ProtectedHeaderParameters
  try {
    header = jose.decodeProtectedHeader(jws)
  } catch {
    throw new Problem('malformed-jws', 'the protected header is not base64url-encoded JSON')
  }
  const alg = header.alg
  if (typeof alg !== 'string' || !(MESSAGE_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new Problem('algorithm-not-allowed', `alg ${JSON.stringify(alg ?? null)} is not allowed; use one of ${MESSAGE_ALGORITHMS.join(', ')} (S1)`, {
      violations: [{ rule: 'S1', path: '/protected/alg', message: 'algorithm not on the allow-list' }],
    })
  }
  if (header.typ !== MESSAGE_TYP) throw new Problem('bad-jws-type', `typ must be ${MESSAGE_TYP}, got ${JSON.stringify(header.typ ?? null)}`)
  if (header.crit !== undefined || header.jwk !== undefined || header.jku !== undefined || header.x5u !== undefined || header.x5c !== undefined) {
    throw new Problem('malformed-jws', 'the protected header may not carry crit, jwk, jku, x5u or x5c: keys come from the directory only')
  }
  const kid = header.kid
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > 128) throw new Problem('unknown-key', 'the protected header has no kid')
  facts.kid = kid
  const agencyId = directory.keyOwners.get(kid)
  const jwk = agencyId ? directory.agencies.get(agencyId)?.jwks.keys.find((k) => k.kid === kid) : undefined
  if (!agencyId || !jwk) throw new Problem('unknown-key', `kid ${kid} is not registered to any agency`)
  facts.agency = agencyId
  const keyAlg = jwk.kty === 'OKP' && jwk.crv === 'Ed25519' ? 'EdDSA' : jwk.kty === 'EC' && jwk.crv === 'P-256' ? 'ES256' : undefined
  if (keyAlg !== alg || (jwk.alg !== undefined && jwk.alg !== alg)) {
    throw new Problem('algorithm-not-allowed', `alg ${alg} does not match key ${kid} (${keyAlg ?? 'unsupported key type'}) (S1)`, {
      violations: [{ rule: 'S1', path: '/protected/alg', message: 'algorithm does not match the registered key' }],
    })
  }
  let key: jose.CryptoKey | Uint8Array
  try {
    key = await jose.importJWK(jwk, alg)
  } catch {
    throw new Problem('unknown-key', `key ${kid} in the directory cannot be used`)
  }
  try {
    const { payload } = await jose.compactVerify(jws, key, { algorithms: [alg] })
    return { agency: agencyId, kid, alg, payload }
  } catch {
    throw new Problem('bad-signature', `the signature does not verify with key ${kid} of ${agencyId}`)
  }
}
