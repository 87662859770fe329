import { readdirSync, readFileSync } from 'node:fs'
import { createPublicKey, createPrivateKey, type KeyObject } from 'node:crypto'
import * as jose from 'jose'
import type { Config } from './config.ts'
import { ConfigError } from './config.ts'

/** A private signing key with its key id. Ed25519 (`EdDSA`) unless stated. */
export interface SigningKey {
  kid: string
  alg: 'EdDSA' | 'ES256'
  privateKey: KeyObject
  publicJwk: jose.JWK
  /**
   * Every public key a verifier may meet (the active one first, then retired ones), each with
   * `leix:validFrom`/`leix:validUntil`; absent for a single-key file (then only `publicJwk`).
   */
  published?: jose.JWK[]
}

/** Generates an Ed25519 (default) or P-256 key pair as JWKs with `kid`, `alg` and `use: 'sig'`. */
export async function generateKeyPair (kid: string, alg: 'EdDSA' | 'ES256' = 'EdDSA'): Promise<{ privateJwk: jose.JWK; publicJwk: jose.JWK }> {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) })
  const meta = { kid, alg, use: 'sig' }
  return {
    privateJwk: { ...(await jose.exportJWK(privateKey)), ...meta },
    publicJwk: { ...(await jose.exportJWK(publicKey)), ...meta },
  }
}

/** Public part of a private JWK (drops `d` and any other private member). */
export function publicJwkOf (jwk: jose.JWK): jose.JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = jwk
  return pub
}

/** Turns a private JWK into a SigningKey; the JWK must carry `kid` and be Ed25519 or P-256. */
export function signingKeyFromJwk (jwk: jose.JWK, what = 'key'): SigningKey {
  if (Array.isArray((jwk as { keys?: unknown }).keys)) throw new ConfigError(`${what}: a JWKS (a set of keys) was given where one private JWK is expected`)
  if (!jwk.kid) throw new ConfigError(`${what}: JWK has no kid`)
  if (!jwk.d) throw new ConfigError(`${what}: a public key was given where the private key belongs (the JWK has no d)`)
  let alg: 'EdDSA' | 'ES256'
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') alg = 'EdDSA'
  else if (jwk.kty === 'EC' && jwk.crv === 'P-256') alg = 'ES256'
  else throw new ConfigError(`${what}: only Ed25519 (EdDSA) and P-256 (ES256) keys are allowed`)
  const privateKey = createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' })
  const publicJwk = { ...(createPublicKey(privateKey).export({ format: 'jwk' }) as jose.JWK), kid: jwk.kid, alg, use: 'sig' }
  return { kid: jwk.kid, alg, privateKey, publicJwk }
}

export function readJwkFile (path: string, what: string): jose.JWK {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as jose.JWK
  } catch (err) {
    throw new ConfigError(`${what} (${path}): ${(err as Error).message}`)
  }
}

const DEV_DIR = new URL('../../config/dev/', import.meta.url)

/** Resolves a configured key path, or the committed development key when LEIX_DEV_KEYS is on. */
function keyPath (configured: string | undefined, devFile: string, config: Config): string | undefined {
  if (configured) return configured
  if (config.devKeys) return new URL(devFile, DEV_DIR).pathname
  return undefined
}

/**
 * The broker key ring (LEIX_BROKER_KEY may name one private JWK or a ring): the active key signs,
 * the retired ones stay published so that what they signed still verifies.
 */
export interface BrokerKeyRing {
  /** kid of the one key that signs. */
  active: string
  /** Private JWKs with `leix:validFrom` and (retired keys) `leix:validUntil`, ISO 8601. */
  keys: (jose.JWK & { 'leix:validFrom'?: string; 'leix:validUntil'?: string })[]
}

export function isKeyRing (doc: unknown): doc is BrokerKeyRing {
  return typeof doc === 'object' && doc !== null && Array.isArray((doc as { keys?: unknown }).keys)
}

/** A ring from a broker key file: a ring as is, a single JWK as a ring of one. */
export function keyRingOf (doc: jose.JWK | BrokerKeyRing): BrokerKeyRing {
  if (isKeyRing(doc)) return doc
  if (!doc.kid) throw new ConfigError('LEIX_BROKER_KEY: JWK has no kid')
  return { active: doc.kid, keys: [doc] }
}

/** Validates a ring and turns it into the active SigningKey with every public key published. */
export function signingKeyFromRing (ring: BrokerKeyRing, what = 'LEIX_BROKER_KEY'): SigningKey {
  if (typeof ring.active !== 'string') throw new ConfigError(`${what}: a JWKS (a set of keys) was given where one private JWK is expected, or a key ring with an "active" kid`)
  const kids = new Set<string>()
  const published: jose.JWK[] = []
  let active: SigningKey | undefined
  for (const jwk of ring.keys) {
    const key = signingKeyFromJwk(jwk, what)
    if (key.alg !== 'EdDSA') throw new ConfigError(`${what}: the broker key must be Ed25519 (EdDSA)`)
    if (kids.has(key.kid)) throw new ConfigError(`${what}: kid ${key.kid} appears twice in the key ring`)
    kids.add(key.kid)
    const validity = {
      ...(jwk['leix:validFrom'] ? { 'leix:validFrom': jwk['leix:validFrom'] } : {}),
      ...(jwk['leix:validUntil'] ? { 'leix:validUntil': jwk['leix:validUntil'] } : {}),
    }
    if (key.kid === ring.active) {
      if (validity['leix:validUntil']) throw new ConfigError(`${what}: the active key ${key.kid} is retired (leix:validUntil)`)
      active = key
      published.unshift({ ...key.publicJwk, ...validity })
    } else {
      if (!validity['leix:validUntil']) throw new ConfigError(`${what}: key ${key.kid} is not active and has no leix:validUntil`)
      published.push({ ...key.publicJwk, ...validity })
    }
  }
  if (!active) throw new ConfigError(`${what}: the active kid ${ring.active} is not in the key ring`)
  return { ...active, published }
}

/** The ring after a rotation at `now`: `next` becomes active, the active key is retired (valid until now). */
export function rotateKeyRing (ring: BrokerKeyRing, next: jose.JWK, now: Date): BrokerKeyRing {
  const at = now.toISOString()
  if (!next.kid || ring.keys.some((k) => k.kid === next.kid)) throw new ConfigError(`kid ${String(next.kid)} is already in the key ring`)
  const keys = ring.keys.map((k) => k.kid === ring.active ? { ...k, 'leix:validUntil': at } : k)
  return { active: next.kid, keys: [{ ...next, 'leix:validFrom': at }, ...keys] }
}

function brokerKeyPath (config: Config): string {
  const path = keyPath(config.brokerKeyPath, 'broker.DEV-ONLY.private.jwk.json', config)
  if (!path) throw new ConfigError('brokerKeyPath (LEIX_BROKER_KEY): no broker signing key configured (set LEIX_DEV_KEYS=true for local development)')
  return path
}

/** The broker's signing key: receipts, delivery signatures, audit checkpoints (the active key of the ring). */
export function loadBrokerKey (config: Config): SigningKey {
  const doc = readJwkFile(brokerKeyPath(config), 'LEIX_BROKER_KEY') as jose.JWK | BrokerKeyRing
  if (!isKeyRing(doc)) {
    const key = signingKeyFromJwk(doc, 'LEIX_BROKER_KEY')
    if (key.alg !== 'EdDSA') throw new ConfigError('LEIX_BROKER_KEY: the broker key must be Ed25519 (EdDSA)')
    return key
  }
  return signingKeyFromRing(doc)
}

/**
 * Reads the ring again and makes its active key the one `current` names, in place: every signer
 * holds this one object, so the next receipt, checkpoint or delivery uses the new key. Throws (and
 * changes nothing) when the ring is invalid. Returns the kids before and after.
 */
export function reloadBrokerKey (current: SigningKey, config: Config): { previousKid: string; activeKid: string } {
  const next = loadBrokerKey(config)
  const previousKid = current.kid
  // One synchronous assignment: no signer sees a kid of one key with the private key of another.
  Object.assign(current, { kid: next.kid, alg: next.alg, privateKey: next.privateKey, publicJwk: next.publicJwk, published: next.published ?? [next.publicJwk] })
  return { previousKid, activeKid: next.kid }
}

/** The JWKS a verifier of the broker's signatures needs: the active key and the retired ones. */
export function publishedKeys (key: SigningKey): { keys: jose.JWK[] } {
  return { keys: key.published ?? [key.publicJwk] }
}

/** The bearer-token issuer's keys: how to verify (a key set, so the issuer can rotate) and, if available, how to sign (dev, `leix token`). */
export interface TokenKeys {
  /** Resolves the verification key of a token from its header (`kid`). */
  keySet: jose.JWTVerifyGetKey
  /** The public JWKs when read from a file (absent for a remote JWKS). */
  publicJwks?: jose.JWK[]
  privatePem?: string
  /** kid of the signing key, for minted tokens. */
  kid: string
}

/**
 * The bearer-token issuer's keys: `LEIX_TOKEN_JWKS` (file or https:// URL, several keys) or the
 * single key of `LEIX_TOKEN_PUBLIC_KEY`; the private key only where tokens are minted.
 */
export function loadTokenKeys (config: Config): TokenKeys {
  let keySet: jose.JWTVerifyGetKey
  let publicJwks: jose.JWK[] | undefined
  if (config.tokenJwks && /^https?:\/\//.test(config.tokenJwks)) {
    const url = new URL(config.tokenJwks)
    if (url.protocol !== 'https:' && !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) throw new ConfigError('tokenJwks (LEIX_TOKEN_JWKS): a JWKS URL must be https://')
    keySet = jose.createRemoteJWKSet(url, { cooldownDuration: 30_000, cacheMaxAge: 600_000 })
  } else {
    if (config.tokenJwks) {
      const doc = readJwkFile(config.tokenJwks, 'LEIX_TOKEN_JWKS') as { keys?: jose.JWK[] }
      if (!Array.isArray(doc.keys) || doc.keys.length === 0) throw new ConfigError('tokenJwks (LEIX_TOKEN_JWKS): not a JWKS (no keys)')
      publicJwks = doc.keys
    } else {
      const pubPath = keyPath(config.tokenPublicKeyPath, 'token-issuer.DEV-ONLY.public.jwk.json', config)
      if (!pubPath) throw new ConfigError('tokenJwks (LEIX_TOKEN_JWKS) or tokenPublicKeyPath (LEIX_TOKEN_PUBLIC_KEY): no token issuer key configured (set LEIX_DEV_KEYS=true for local development)')
      const given = readJwkFile(pubPath, 'LEIX_TOKEN_PUBLIC_KEY') as jose.JWK & { keys?: jose.JWK[] }
      // A JWKS of one key is that key; several belong in LEIX_TOKEN_JWKS.
      if (Array.isArray(given.keys) && given.keys.length !== 1) {
        throw new ConfigError(`tokenPublicKeyPath (LEIX_TOKEN_PUBLIC_KEY): a JWKS of ${given.keys.length} keys was given where one key is expected; name it in LEIX_TOKEN_JWKS instead`)
      }
      publicJwks = [Array.isArray(given.keys) ? given.keys[0]! : given]
    }
    const variable = config.tokenJwks ? 'LEIX_TOKEN_JWKS' : 'LEIX_TOKEN_PUBLIC_KEY'
    publicJwks = publicJwks.map((k, i) => {
      if (k.d) throw new ConfigError(`token issuer key ${k.kid ?? i} (${variable}): a private key was given where a public key belongs; publish only the public JWK (without d)`)
      if (k.kty !== 'OKP' || k.crv !== 'Ed25519') throw new ConfigError(`token issuer key ${k.kid ?? i} (${variable}): the token issuer key must be Ed25519 (kty OKP, crv Ed25519), got kty ${k.kty ?? 'none'}${k.crv ? ` crv ${k.crv}` : ''}`)
      return { ...publicJwkOf(k), alg: 'EdDSA' }
    })
    keySet = jose.createLocalJWKSet({ keys: publicJwks })
  }
  const privPath = keyPath(config.tokenPrivateKeyPath, 'token-issuer.DEV-ONLY.private.jwk.json', config)
  let privatePem: string | undefined
  let kid = publicJwks?.[0]?.kid ?? 'token-issuer'
  if (privPath) {
    const privJwk = readJwkFile(privPath, 'LEIX_TOKEN_PRIVATE_KEY')
    privatePem = createPrivateKey({ key: privJwk as import('node:crypto').JsonWebKey, format: 'jwk' }).export({ type: 'pkcs8', format: 'pem' }).toString()
    kid = privJwk.kid ?? kid
  }
  return { keySet, kid, ...(publicJwks ? { publicJwks } : {}), ...(privatePem ? { privatePem } : {}) }
}

/** The public `x`/`y` of every committed development key (config/dev), to recognise one wherever it is configured. */
export function committedDevKeys (): Map<string, string> {
  const found = new Map<string, string>()
  const walk = (dir: URL): void => {
    let names: string[]
    try {
      names = readdirSync(dir)
    } catch {
      return // the container image holds no development keys
    }
    for (const name of names) {
      if (name.endsWith('.jwk.json')) {
        try {
          const jwk = JSON.parse(readFileSync(new URL(name, dir), 'utf8')) as jose.JWK
          if (jwk.x) found.set(`${jwk.x}|${jwk.y ?? ''}`, `config/dev/${dir.href.slice(DEV_DIR.href.length)}${name}`)
        } catch {
          // not a key file
        }
      } else if (!name.includes('.')) {
        walk(new URL(`${name}/`, dir))
      }
    }
  }
  walk(DEV_DIR)
  return found
}

/** Whether a public JWK is a development key: marked `dev: true`, or one whose private half is committed. */
export function isDevKey (jwk: jose.JWK & { dev?: unknown }, committed: Map<string, string>): boolean {
  return jwk.dev === true || committed.has(`${jwk.x}|${jwk.y ?? ''}`)
}
