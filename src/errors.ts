// The errors leix throws, as types with a code from a closed union (as sigstore-js and BullMQ do).
// Domain code throws these and knows nothing of HTTP; src/http/error-handler.ts alone maps a
// DomainError's code to a problem+json type and status (src/http/problems.ts).
import type { Violation } from './policy/types.ts'

/** The base of every leix error: a stable string code, the message, and an optional cause. */
export class LeixError<C extends string = string> extends Error {
  readonly code: C
  constructor (code: C, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/**
 * Every refusal a client can be given. Each code is a problem type `urn:leix:problem:<code>`
 * with one HTTP status (src/http/problems.ts) and a line in README's problem table.
 */
export const DOMAIN_ERROR_CODES = [
  'unsupported-media-type',
  'payload-too-large',
  'malformed-jws',
  'algorithm-not-allowed',
  'bad-jws-type',
  'unknown-key',
  'key-not-valid',
  'directory-invalid',
  'bad-signature',
  'malformed-json',
  'schema-violation',
  'principle-violation',
  'consent-required',
  'replayed-message-id',
  'unknown-exchange',
  'invalid-transition',
  'not-counterpart',
  'invalid-message-state',
  'unauthorized',
  'forbidden',
  'not-found',
  'bad-request',
  'invalid-period',
  'uri-too-long',
  'headers-too-large',
  'justification-required',
  'payload-erased',
  'rate-limited',
  'audit-unsealed',
  'witness-conflict',
  'unknown-witness',
  'bad-witness-statement',
  'unavailable',
  'overloaded',
  'audit-integrity',
  'internal',
] as const

export type DomainErrorCode = (typeof DOMAIN_ERROR_CODES)[number]

/**
 * A request refused by a domain rule: intake, policy, exchanges, delivery, audit access.
 * `violations` lists the broken rules (with their rule ids); `extra` adds fields to the problem.
 */
export class DomainError extends LeixError<DomainErrorCode> {
  readonly violations?: Violation[]
  readonly extra?: Record<string, unknown>
  constructor (
    code: DomainErrorCode,
    message: string,
    options: { violations?: Violation[]; extra?: Record<string, unknown>; cause?: unknown } = {}
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause })
    if (options.violations) this.violations = options.violations
    if (options.extra) this.extra = options.extra
  }
}

/**
 * Which check of a signed or hashed artefact failed: canonical JSON, Merkle proofs and ranges,
 * signed checkpoints and statements, signed notes, exports, receipts, delivery signatures.
 */
export type VerificationErrorCode =
  // canonical JSON (RFC 8785)
  | 'not-serialisable'
  // Merkle trees (RFC 9162)
  | 'bad-range' | 'bad-node' | 'bad-state' | 'bad-proof'
  // broker-signed checkpoints, export statements, receipts, delivery signatures (JWS)
  | 'malformed' | 'bad-algorithm' | 'bad-header' | 'unknown-key' | 'bad-signature' | 'bad-payload'
  | 'bad-jwks' | 'bad-type' | 'digest-mismatch' | 'wrong-recipient'
  // C2SP signed notes
  | 'malformed-note' | 'bad-key' | 'bad-checkpoint-note'
  // audit exports
  | 'bad-event' | 'bad-export'

/** A signed or hashed artefact did not verify; the code says which check failed. */
export class VerificationError extends LeixError<VerificationErrorCode> {}
