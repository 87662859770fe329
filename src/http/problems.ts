import { DOMAIN_ERROR_CODES, type DomainError, type DomainErrorCode } from '../errors.ts'

/**
 * The catalogue of every problem a client can see: each DomainError code (src/errors.ts) with its
 * HTTP status and title; the `type` is `urn:leix:problem:<code>`. README.md lists them all.
 */
export const PROBLEMS = {
  'unsupported-media-type': { status: 415, title: 'Content-Type must be application/jose' },
  'payload-too-large': { status: 413, title: 'Request body exceeds the size limit' },
  'malformed-jws': { status: 400, title: 'Body is not a compact JWS' },
  'algorithm-not-allowed': { status: 400, title: 'JWS algorithm is not on the allow-list' },
  'bad-jws-type': { status: 400, title: 'JWS typ must be leix-message+json' },
  'unknown-key': { status: 401, title: 'JWS kid is not a registered agency key' },
  'key-not-valid': { status: 401, title: 'JWS kid is revoked, expired or not yet valid' },
  'directory-invalid': { status: 422, title: 'The directory file is invalid; the loaded directory stays' },
  'bad-signature': { status: 401, title: 'JWS signature does not verify' },
  'malformed-json': { status: 400, title: 'JWS payload is not a JSON object' },
  'schema-violation': { status: 422, title: 'Message does not match the message schema' },
  'principle-violation': { status: 422, title: 'Message breaks one or more exchange principles' },
  'consent-required': { status: 422, title: "Passing on received data needs its provider's consent" },
  'replayed-message-id': { status: 409, title: 'Message id already used for a different message' },
  'unknown-exchange': { status: 422, title: 'inReplyTo names no message known to leix' },
  'invalid-transition': { status: 409, title: 'The exchange cannot move to that state' },
  'not-counterpart': { status: 403, title: 'Only the counterpart agency of the exchange may reply' },
  'invalid-message-state': { status: 409, title: 'The message is not in a state that allows this' },
  unauthorized: { status: 401, title: 'A valid bearer token is required' },
  forbidden: { status: 403, title: 'Not allowed for this agency or role' },
  'not-found': { status: 404, title: 'No such resource' },
  'bad-request': { status: 400, title: 'Request parameters are invalid' },
  'invalid-period': { status: 400, title: 'The report period is invalid' },
  'uri-too-long': { status: 414, title: 'The request URL is too long' },
  'headers-too-large': { status: 431, title: 'The request headers are too large' },
  'justification-required': { status: 400, title: 'A justification is required to read a message body' },
  'payload-erased': { status: 410, title: 'The message payload has been erased' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  'audit-unsealed': { status: 503, title: 'The audit log cannot be sealed; intake is paused' },
  'witness-conflict': { status: 409, title: "The witness's tree size is beyond this log's newest checkpoint" },
  'unknown-witness': { status: 403, title: 'Not signed by a configured witness' },
  'bad-witness-statement': { status: 422, title: 'The cosignature or alarm does not verify against this log' },
  unavailable: { status: 503, title: 'A backing service is unavailable' },
  overloaded: { status: 503, title: 'The gateway is above the load it sustains; retry later' },
  'audit-integrity': { status: 500, title: 'The audit log failed its integrity check; an alarm was raised' },
  internal: { status: 500, title: 'Internal error' },
} as const satisfies Record<DomainErrorCode, { status: number; title: string }>

/**
 * The problem+json body of a refusal (RFC 9457): the code's type, title and status from the
 * catalogue, the error's message as `detail`, its violations and extra fields.
 */
export function problemBody (err: DomainError, instance?: string): Record<string, unknown> {
  const { status, title } = PROBLEMS[err.code]
  return {
    type: `urn:leix:problem:${err.code}`,
    title,
    status,
    detail: err.message,
    code: err.code,
    ...(instance ? { instance } : {}),
    ...(err.violations ? { violations: err.violations } : {}),
    ...(err.extra ?? {}),
  }
}

/** The JSON Schema of a problem body, for the OpenAPI document. */
export const problemSchema = {
  $id: 'problem',
  type: 'object',
  required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string', examples: ['urn:leix:problem:principle-violation'] },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', enum: [...DOMAIN_ERROR_CODES] },
    instance: { type: 'string' },
    violations: {
      type: 'array',
      items: {
        type: 'object',
        required: ['rule', 'path', 'message'],
        properties: { rule: { type: 'string' }, path: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
  additionalProperties: true,
} as const
