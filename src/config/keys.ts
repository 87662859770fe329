import { readFileSync } from 'node:fs'
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
}

/** Generates an Ed25519 (default) or P-256 key pair as JWKs with `kid`, `alg` and `use: 'sig'`. */
export async function generateKeyPair(kid: string, alg: 'EdDSA' | 'ES256' = 'EdDSA'): Promise<{ privateJwk: jose.JWK; publicJwk: jose.JWK }> {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) })
  const meta = { kid, alg, use: 'sig' }
  return {
    privateJwk: { ...(await jose.exportJWK(privateKey)), ...meta },
    publicJwk: { ...(await jose.exportJWK(publicKey)), ...meta },
  }
}

/** Public part of a private JWK (drops `d` and any other private member). */
export function publicJwkOf(jwk: jose.JWK): jose.JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = jwk
  return pub
}

/** Turns a private JWK into a SigningKey; the JWK must carry `kid` and be Ed25519 or P-256. */
export function signingKeyFromJwk(jwk: jose.JWK, what = 'key'): SigningKey {
  if (!jwk.kid) throw new ConfigError(`${what}: JWK has no kid`)
  if (!jwk.d) throw new ConfigError(`${what}: JWK is not a private key`)
  let alg: 'EdDSA' | 'ES256'
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') alg = 'EdDSA'
  else if (jwk.kty === 'EC' && jwk.crv === 'P-256') alg = 'ES256'
  else throw new ConfigError(`${what}: only Ed25519 (EdDSA) and P-256 (ES256) keys are allowed`)
  const privateKey = createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' })
  const publicJwk = { ...(createPublicKey(privateKey).export({ format: 'jwk' }) as jose.JWK), kid: jwk.kid, alg, use: 'sig' }
  return { kid: jwk.kid, alg, privateKey, publicJwk }
}

export function readJwkFile(path: string, what: string): jose.JWK {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as jose.JWK
  } catch (err) {
    throw new ConfigError(`${what} (${path}): ${(err as Error).message}`)
  }
}

const DEV_DIR = new URL('../../config/dev/', import.meta.url)

/** Resolves a configured key path, or the committed development key when LEIX_DEV_KEYS is on. */
function keyPath(configured: string | undefined, devFile: string, config: Config): string | undefined {
  if (configured) return configured
  if (config.devKeys) return new URL(devFile, DEV_DIR).pathname
  return undefined
}

/** The broker's signing key: receipts, delivery signatures, audit checkpoints. */
export function loadBrokerKey(config: Config): SigningKey {
  const path = keyPath(config.brokerKeyPath, 'broker.DEV-ONLY.private.jwk.json', config)
  if (!path) throw new ConfigError('brokerKeyPath (LEIX_BROKER_KEY): no broker signing key configured (set LEIX_DEV_KEYS=true for local development)')
  const key = signingKeyFromJwk(readJwkFile(path, 'LEIX_BROKER_KEY'), 'LEIX_BROKER_KEY')
  if (key.alg !== 'EdDSA') throw new ConfigError('LEIX_BROKER_KEY: the broker key must be Ed25519 (EdDSA)')
  return key
}

/** The bearer-token issuer's public key (PEM, for @fastify/jwt) and, if available, its private key. */
export function loadTokenKeys(config: Config): { publicPem: string; privatePem?: string; kid: string } {
  const pubPath = keyPath(config.tokenPublicKeyPath, 'token-issuer.DEV-ONLY.public.jwk.json', config)
  if (!pubPath) throw new ConfigError('tokenPublicKeyPath (LEIX_TOKEN_PUBLIC_KEY): no token issuer key configured (set LEIX_DEV_KEYS=true for local development)')
  const pubJwk = readJwkFile(pubPath, 'LEIX_TOKEN_PUBLIC_KEY')
  if (pubJwk.kty !== 'OKP' || pubJwk.crv !== 'Ed25519') throw new ConfigError('LEIX_TOKEN_PUBLIC_KEY: the token issuer key must be Ed25519')
  const publicPem = createPublicKey({ key: publicJwkOf(pubJwk) as import('node:crypto').JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
  const privPath = keyPath(config.tokenPrivateKeyPath, 'token-issuer.DEV-ONLY.private.jwk.json', config)
  let privatePem: string | undefined
  if (privPath) {
    const privJwk = readJwkFile(privPath, 'LEIX_TOKEN_PRIVATE_KEY')
    privatePem = createPrivateKey({ key: privJwk as import('node:crypto').JsonWebKey, format: 'jwk' }).export({ type: 'pkcs8', format: 'pem' }).toString()
  }
  return { publicPem, kid: pubJwk.kid ?? 'token-issuer', ...(privatePem ? { privatePem } : {}) }
}
