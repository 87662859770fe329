import * as jose from 'jose'
import type { SigningKey } from '../config/keys.ts'
import { digestOf, signCompact } from '../intake/receipt.ts'
import { VerificationError } from '../errors.ts'

/** `typ` of the broker's signature over a push delivery (header `Leix-Delivery-Signature`). */
export const DELIVERY_TYP = 'leix-delivery+json'
/** `typ` of a notification the broker pushes (the whole body is this JWS). */
export const NOTIFICATION_TYP = 'leix-notification+json'

/**
 * What the broker attests when it pushes a message: this exact body (by digest), for this
 * recipient, as this attempt, at this time. A recipient verifies it with `/.well-known/jwks.json`
 * and the sender's own signature with `/v1/agencies`; `messageId` is its deduplication key.
 */
export interface DeliveryAttestation {
  messageId: string
  exchangeId: string
  sender: string
  recipient: string
  kind: string
  /** base64url SHA-256 of the body: the sender's compact JWS, byte for byte. */
  digest: string
  /** 1 for the first attempt; a retry after a lost answer arrives with a higher number. */
  attempt: number
  sentAt: string
}

export function signDelivery (body: DeliveryAttestation, key: SigningKey): string {
  return signCompact({ alg: 'EdDSA', kid: key.kid, typ: DELIVERY_TYP }, body, key)
}

/**
 * Verifies a `Leix-Delivery-Signature` as a recipient would: the broker's signature, the type,
 * and, when given, that it covers exactly `body` and is addressed to `recipient`.
 */
export async function verifyDelivery (
  signature: string,
  jwks: jose.JSONWebKeySet,
  expect: { body?: string; recipient?: string } = {}
): Promise<DeliveryAttestation> {
  const payload = await verifyBrokerJws(signature, jwks, DELIVERY_TYP)
  const a = payload as Partial<DeliveryAttestation>
  for (const field of ['messageId', 'exchangeId', 'sender', 'recipient', 'kind', 'digest', 'sentAt'] as const) {
    if (typeof a[field] !== 'string') throw new VerificationError('bad-payload', `delivery signature lacks ${field}`)
  }
  if (typeof a.attempt !== 'number') throw new VerificationError('bad-payload', 'delivery signature lacks attempt')
  if (expect.body !== undefined && digestOf(expect.body) !== a.digest) throw new VerificationError('digest-mismatch', 'the body is not what the broker signed')
  if (expect.recipient !== undefined && a.recipient !== expect.recipient) throw new VerificationError('wrong-recipient', `addressed to ${a.recipient}`)
  return a as DeliveryAttestation
}

/** A notification as pushed and listed: ids and metadata only, never personal data. */
export interface NotificationBody {
  id: string
  /** `exchange.overdue`, `message.non-delivery`, `delivery.undeliverable`, `review.decided`. */
  type: string
  agency: string
  exchangeId: string | null
  messageId: string | null
  createdAt: string
  details: Record<string, unknown>
}

export function signNotification (body: NotificationBody, key: SigningKey): string {
  return signCompact({ alg: 'EdDSA', kid: key.kid, typ: NOTIFICATION_TYP }, body, key)
}

/** Verifies a pushed notification (the whole request body) against the broker's JWKS. */
export async function verifyNotification (jws: string, jwks: jose.JSONWebKeySet): Promise<NotificationBody> {
  const payload = await verifyBrokerJws(jws, jwks, NOTIFICATION_TYP)
  const n = payload as Partial<NotificationBody>
  if (typeof n.id !== 'string' || typeof n.type !== 'string' || typeof n.agency !== 'string') {
    throw new VerificationError('bad-payload', 'notification lacks id, type or agency')
  }
  return n as NotificationBody
}

async function verifyBrokerJws (jws: string, jwks: jose.JSONWebKeySet, typ: string): Promise<Record<string, unknown>> {
  let result: jose.CompactVerifyResult
  try {
    result = await jose.compactVerify(jws, jose.createLocalJWKSet(jwks), { algorithms: ['EdDSA'] })
  } catch (err) {
    throw new VerificationError('bad-signature', `broker signature does not verify: ${(err as Error).message}`)
  }
  if (result.protectedHeader.typ !== typ) throw new VerificationError('bad-type', `typ must be ${typ}`)
  try {
    const value = JSON.parse(new TextDecoder().decode(result.payload)) as unknown
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object')
    return value as Record<string, unknown>
  } catch {
    throw new VerificationError('bad-payload', 'payload is not a JSON object')
  }
}
