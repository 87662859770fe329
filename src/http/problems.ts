import type { Violation } from '../policy/types.ts'

/**
 * The catalogue of every problem a client can see. Each has a stable code (the `type` is
 * `urn:leix:problem:<code>`), an HTTP status and a title; README.md lists them all.
 */
export const PROBLEMS = {
  'unsupported-media-type': { status: 415, title: 'Content-Type must be application/jose' },
  'payload-too-large': { status: 413, title: 'Request body exceeds the size limit' },
  'malformed-jws': { status: 400, title: 'Body is not a compact JWS' },
  'algorithm-not-allowed': { status: 400, title: 'JWS algorithm is not on the allow-list' },
  'bad-jws-type': { status: 400, title: 'JWS typ must be leix-message+json' },
  'unknown-key': { status: 401, title: 'JWS kid is not a registered agency key' },
  'bad-signature': { status: 401, title: 'JWS signature does not verify' },
  'malformed-json': { status: 400, title: 'JWS payload is not a JSON object' },
  'schema-violation': { status: 422, title: 'Message does not match the message schema' },
  'principle-violation': { status: 422, title: 'Message breaks one or more exchange principles' },
  'replayed-message-id': { status: 409, title: 'Message id already used for a different message' },
  'unknown-exchange': { status: 422, title: 'inReplyTo names no message known to leix' },
  'invalid-transition': { status: 409, title: 'The exchange cannot move to that state' },
  'not-counterpart': { status: 403, title: 'Only the counterpart agency of the exchange may reply' },
  'invalid-message-state': { status: 409, title: 'The message is not in a state that allows this' },
  'unauthorized': { status: 401, title: 'A valid bearer token is required' },
  'forbidden': { status: 403, title: 'Not allowed for this agency or role' },
  'not-found': { status: 404, title: 'No such resource' },
  'bad-request': { status: 400, title: 'Request parameters are invalid' },
  'uri-too-long': { status: 414, title: 'The request URL is too long' },
  'headers-too-large': { status: 431, title: 'The request headers are too large' },
  'justification-required': { status: 400, title: 'A justification is required to read a message body' },
  'payload-erased': { status: 410, title: 'The message payload has been erased' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  'audit-unsealed': { status: 503, title: 'The audit log cannot be sealed; intake is paused' },
  'witness-conflict': { status: 409, title: "The witness's tree size is beyond this log's newest checkpoint" },
  'unknown-witness': { status: 403, title: 'Not signed by a configured witness' },
  'bad-witness-statement': { status: 422, title: 'The cosignature or alarm does not verify against this log' },
  'unavailable': { status: 503, title: 'A backing service is unavailable' },
  'audit-integrity': { status: 500, title: 'The audit log failed its integrity check; an alarm was raised' },
  'internal': { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string }>

export type ProblemCode = keyof typeof PROBLEMS

/** An RFC 9457 problem, thrown anywhere and rendered by the one error handler. */
export class Problem extends Error {
  override readonly name = 'Problem'
  readonly code: ProblemCode
  readonly status: number
  readonly title: string
  readonly violations?: Violation[]
  readonly extra?: Record<string, unknown>
  constructor(code: ProblemCode, detail: string, opts: { violations?: Violation[]; extra?: Record<string, unknown> } = {}) {
    super(detail)
    this.code = code
    this.status = PROBLEMS[code].status
    this.title = PROBLEMS[code].title
    if (opts.violations) this.violations = opts.violations
    if (opts.extra) this.extra = opts.extra
  }

  toJSON(instance?: string): Record<string, unknown> {
    return {
      type: `urn:leix:problem:${this.code}`,
      title: this.title,
      status: this.status,
      detail: this.message,
      code: this.code,
      ...(instance ? { instance } : {}),
      ...(this.violations ? { violations: this.violations } : {}),
      ...(this.extra ?? {}),
    }
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
    code: { type: 'string', enum: Object.keys(PROBLEMS) },
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
