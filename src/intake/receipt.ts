import { createHash, sign } from 'node:crypto'
import * as jose from 'jose'
import type { SigningKey } from '../config/keys.ts'
import { VerificationError } from '../errors.ts'

export const RECEIPT_TYP = 'leix-receipt+json'

/** What a receipt attests. */
export interface ReceiptBody {
  messageId: string
  exchangeId: string
  /** base64url SHA-256 of the exact JWS bytes received. */
  digest: string
  receivedAt: string
  status: string
}

/** base64url SHA-256 of the bytes, as receipts and audit events carry it. */
export function digestOf (bytes: string | Uint8Array): string {
  return createHash('sha256').update(bytes).digest('base64url')
}

export async function signReceipt (body: ReceiptBody, key: SigningKey): Promise<string> {
  return signCompact({ alg: 'EdDSA', kid: key.kid, typ: RECEIPT_TYP }, body, key)
}

/**
 * A compact JWS (RFC 7515) by an Ed25519 broker key. node:crypto signs synchronously, several
 * times faster than WebCrypto; tests verify the output with jose.
 */
export function signCompact (header: { alg: 'EdDSA'; kid: string; typ: string }, payload: unknown, key: SigningKey): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
  return `${input}.${sign(null, Buffer.from(input, 'ascii'), key.privateKey).toString('base64url')}`
}

/**
 * Verifies a receipt against the broker's JWKS; with `jws`, also that it covers exactly those bytes.
 */
export async function verifyReceipt (receipt: string, jwks: jose.JSONWebKeySet, jws?: string): Promise<ReceiptBody> {
  let result: jose.CompactVerifyResult
  try {
    result = await jose.compactVerify(receipt, jose.createLocalJWKSet(jwks), { algorithms: ['EdDSA'] })
  } catch (err) {
    throw new VerificationError('bad-signature', `receipt signature does not verify: ${(err as Error).message}`)
  }
  if (result.protectedHeader.typ !== RECEIPT_TYP) throw new VerificationError('bad-type', `receipt typ must be ${RECEIPT_TYP}`)
  let body: ReceiptBody
  try {
    body = JSON.parse(new TextDecoder().decode(result.payload)) as ReceiptBody
  } catch {
    throw new VerificationError('bad-payload', 'receipt payload is not JSON')
  }
  for (const field of ['messageId', 'exchangeId', 'digest', 'receivedAt', 'status'] as const) {
    if (typeof body[field] !== 'string') throw new VerificationError('bad-payload', `receipt payload lacks ${field}`)
  }
  if (jws !== undefined && digestOf(jws) !== body.digest) throw new VerificationError('digest-mismatch', 'receipt digest does not match the message bytes')
  return body
}
