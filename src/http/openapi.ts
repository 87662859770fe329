import { readFileSync } from 'node:fs'
import { problemSchema } from './problems.ts'

/**
 * Finishing the OpenAPI document that @fastify/swagger builds from the route schemas. What only the
 * document needs (operation ids, success bodies of routes that declare none, examples, media types,
 * security) is added here and not to the route schemas: Fastify serialises replies with a route's
 * response schemas, and a schema added only for documentation would change what clients receive.
 */

type Json = Record<string, unknown>
type SchemaObject = Json & { type?: unknown; properties?: Record<string, SchemaObject>; items?: SchemaObject; enum?: unknown[]; examples?: unknown[]; format?: string; $ref?: string }

const PROBLEM_REF = { $ref: '#/components/schemas/Problem' }
const PROBLEM_MEDIA = 'application/problem+json'

/** The package's version: the document describes the code that serves it. */
export function packageVersion (): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
}

/** Ids of the operations, stable names for generated clients; a route missing here gets a derived one. */
const OPERATION_IDS: Record<string, string> = {
  'post /v1/messages': 'submitMessage',
  'get /health/live': 'getLiveness',
  'get /health/ready': 'getReadiness',
  'get /.well-known/jwks.json': 'getBrokerKeys',
  'get /v1/agencies': 'listAgencies',
  'get /v1/witness/add-checkpoint': 'getCheckpointToCosign',
  'post /v1/witness/cosignatures': 'submitCosignature',
  'post /v1/witness/alarms': 'raiseWitnessAlarm',
  'get /v1/witness/alarms': 'listWitnessAlarms',
  'get /v1/witness/checkpoint': 'getWitnessCheckpoint',
  'get /v1/witness/log-key': 'getLogKey',
  'get /v1/exchanges/{id}': 'getExchange',
  'get /v1/exchanges': 'listExchanges',
  'post /v1/exchanges/{id}/close': 'closeExchange',
  'get /v1/messages/{id}': 'consultMessage',
  'get /v1/inbox': 'listInbox',
  'post /v1/inbox/{messageId}/ack': 'acknowledgeMessage',
  'get /v1/notifications': 'listNotifications',
  'post /v1/messages/{id}/redeliver': 'redeliverMessage',
  'post /v1/messages/{id}/review': 'reviewMessage',
  'get /v1/review/held': 'listHeldMessages',
  'get /v1/audit/checkpoints/latest': 'getLatestCheckpoint',
  'get /v1/audit/checkpoints/{treeSize}': 'getCheckpoint',
  'get /v1/audit/events/{seq}': 'getAuditEvent',
  'get /v1/audit/proofs/inclusion': 'getInclusionProof',
  'get /v1/audit/proofs/consistency': 'getConsistencyProof',
  'get /v1/audit/events': 'listAuditEvents',
  'get /v1/audit/justifications/{id}': 'getJustification',
  'get /v1/audit/export': 'exportAuditLog',
  'get /v1/audit/checkpoints/witnessed': 'getWitnessedCheckpoint',
  'get /v1/exchanges/{id}/evidence': 'getEvidenceBundle',
}

const open = (properties: Record<string, SchemaObject>, required: string[] = []): SchemaObject =>
  ({ type: 'object', required, properties, additionalProperties: true })
const page = (item: SchemaObject): SchemaObject =>
  open({ items: { type: 'array', items: item }, nextCursor: { type: ['string', 'null'] } }, ['items'])
const uuid = { type: 'string', format: 'uuid' }
const instant = { type: 'string', format: 'date-time' }
const jwk = open({ kty: { type: 'string', examples: ['OKP'] }, kid: { type: 'string' }, crv: { type: 'string', examples: ['Ed25519'] }, x: { type: 'string' } }, ['kty'])
const exchangeSummary = open({
  exchangeId: uuid, status: { type: 'string', examples: ['open'] }, requester: { type: 'string', examples: ['AL-ASP'] },
  responder: { type: 'string', examples: ['RS-MUP'] }, deadline: { type: ['string', 'null'], format: 'date-time' },
}, ['exchangeId', 'status'])
const messageOutcome = open({ messageId: uuid, exchangeId: uuid, status: { type: 'string' } }, ['messageId'])

/**
 * Success answers of the routes whose schema declares none. Open objects (`additionalProperties`)
 * where the body carries more than is listed: these describe, they do not restrict.
 */
const SUCCESS: Record<string, { status: string; description: string; media?: string; schema: SchemaObject }> = {
  'get /health/live': { status: '200', description: 'The process is up', schema: open({ status: { type: 'string', enum: ['ok'] } }, ['status']) },
  'get /health/ready': {
    status: '200',
    description: 'Ready; 503 with the same body (status not-ready) names each check that failed and why',
    schema: open({
      status: { type: 'string', enum: ['ready', 'not-ready'] },
      checks: { type: 'object', additionalProperties: open({ ok: { type: 'boolean' }, reason: { type: 'string' } }, ['ok']) },
    }, ['status', 'checks']),
  },
  'get /.well-known/jwks.json': { status: '200', description: "The broker's public keys (JWK Set, RFC 7517)", schema: open({ keys: { type: 'array', items: jwk } }, ['keys']) },
  'get /v1/agencies': {
    status: '200',
    description: 'The agency directory (public parts)',
    schema: open({
      agencies: {
        type: 'array',
        items: open({ id: { type: 'string', examples: ['AL-ASP'] }, name: { type: 'string' }, country: { type: 'string', examples: ['AL'] }, keys: { type: 'array', items: jwk } }, ['id']),
      },
    }, ['agencies']),
  },
  'get /v1/exchanges/{id}': {
    status: '200',
    description: 'The exchange with its messages (metadata only) and timeline',
    schema: { ...exchangeSummary, properties: { ...exchangeSummary.properties, messages: { type: 'array', items: open({ id: uuid, status: { type: 'string' } }) }, timeline: { type: 'array', items: open({ at: instant, event: { type: 'string' } }) } } },
  },
  'get /v1/exchanges': { status: '200', description: 'A page of exchanges', schema: page(exchangeSummary) },
  'post /v1/exchanges/{id}/close': { status: '200', description: 'Closed', schema: open({ exchangeId: uuid, status: { type: 'string', examples: ['closed'] }, closedAt: instant }, ['exchangeId', 'status', 'closedAt']) },
  'get /v1/inbox': { status: '200', description: 'A page of messages not yet acknowledged, each with its compact JWS', schema: page(open({ messageId: uuid, exchangeId: uuid, jws: { type: 'string' } })) },
  'post /v1/inbox/{messageId}/ack': { status: '200', description: 'Acknowledged (again, if it was already)', schema: open({ messageId: uuid, exchangeId: uuid, status: { type: 'string', enum: ['acknowledged'] }, deliveredAt: instant, acknowledgedAt: instant }, ['messageId', 'exchangeId', 'status']) },
  'get /v1/notifications': { status: '200', description: 'Notifications after the cursor', schema: open({ items: { type: 'array', items: open({ seq: { type: 'integer' }, type: { type: 'string' } }) }, nextCursor: { type: ['integer', 'null'] } }, ['items']) },
  'post /v1/messages/{id}/redeliver': { status: '200', description: 'Queued for delivery again', schema: messageOutcome },
  'post /v1/messages/{id}/review': { status: '200', description: 'Released to its recipient or rejected', schema: messageOutcome },
  'get /v1/review/held': { status: '200', description: "Messages held for the DPO's review", schema: open({ items: { type: 'array', items: messageOutcome } }, ['items']) },
  'get /v1/audit/export': { status: '200', description: 'NDJSON: one JSON object a line (range proof, events, checkpoints, end line)', media: 'application/x-ndjson', schema: { type: 'string' } },
  'get /v1/exchanges/{id}/evidence': { status: '200', description: 'The evidence bundle', schema: open({ exchangeId: uuid }) },
}

/** A plausible value for a schema, for the examples of answers that have none of their own. */
export function sampleOf (schema: SchemaObject | undefined, depth = 0): unknown {
  if (!schema || depth > 6) return {}
  if (schema.examples?.length) return schema.examples[0]
  if (schema.enum?.length) return schema.enum[0]
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type
  switch (type) {
    case 'object': return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, v]) => [k, sampleOf(v, depth + 1)]))
    case 'array': return schema.items ? [sampleOf(schema.items, depth + 1)] : []
    case 'integer': case 'number': return 1
    case 'boolean': return true
    case 'string':
      if (schema.format === 'uuid') return '0192f5d2-7a4e-7c3b-9a51-3f6b2f0c8d11'
      if (schema.format === 'date-time') return '2026-05-04T09:30:00.000Z'
      return 'string'
    default: return {}
  }
}

const isProblem = (schema: SchemaObject | undefined): boolean =>
  !!schema && Array.isArray(schema.required) && (schema.required as unknown[]).includes('code') && !!schema.properties?.violations

/** A compact JWS: three base64url parts. */
const COMPACT_JWS = '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$'

/** Rewrites `#/$defs/x` inside the hoisted Message parts to their components (`Message-x`). */
function hoistedRefs (value: unknown, prefix: string): unknown {
  if (Array.isArray(value)) return value.map((v) => hoistedRefs(v, prefix))
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(Object.entries(value).map(([k, v]) =>
    [k, k === '$ref' && typeof v === 'string' && v.startsWith('#/$defs/') ? `#/components/schemas/${prefix}-${v.slice(8)}` : hoistedRefs(v, prefix)]))
}

/** Completes the generated document (used as @fastify/swagger's `transformObject`). */
export function finishDocument<D extends Json> (generated: D): D {
  const doc = structuredClone(generated) as Json & { paths?: Record<string, Record<string, Json>>; components?: Json & { schemas?: Record<string, SchemaObject> } }
  const schemas = doc.components?.schemas ?? {}
  for (const name of Object.keys(schemas)) if (name === 'Message' || name.startsWith('Message-')) schemas[name] = hoistedRefs(schemas[name], 'Message') as SchemaObject
  const { $id: _id, ...problem } = problemSchema
  schemas.Problem = {
    ...problem,
    description: 'A refusal (RFC 9457); `type` is urn:leix:problem:<code>, the code listed in README',
    examples: [{ type: 'urn:leix:problem:not-found', title: 'No such resource', status: 404, detail: 'no exchange 0192f5d2-7a4e-7c3b-9a51-3f6b2f0c8d11 for AL-ASP', code: 'not-found', instance: '/v1/exchanges/0192f5d2-7a4e-7c3b-9a51-3f6b2f0c8d11' }],
  } as unknown as SchemaObject
  doc.components = { ...doc.components, schemas }

  for (const [path, operations] of Object.entries(doc.paths ?? {})) {
    for (const [method, operation] of Object.entries(operations)) {
      const key = `${method} ${path}`
      operation.operationId = OPERATION_IDS[key] ?? method + path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())
      // Bearer routes declare it; the others are public or authenticated by a signature in the body.
      operation.security ??= []
      const responses = (operation.responses ?? {}) as Record<string, Json & { content?: Record<string, { schema?: SchemaObject; example?: unknown }> }>
      const success = SUCCESS[key]
      if (success) {
        const existing = responses[success.status]
        if (!existing?.content) {
          responses[success.status] = { description: success.description, content: { [success.media ?? 'application/json']: { schema: success.schema } } }
        }
      }
      for (const [status, response] of Object.entries(responses)) {
        const media = response.content ? Object.values(response.content)[0] : undefined
        if (isProblem(media?.schema) || (/^[45]/.test(status) && media?.schema && response.description === 'problem+json')) {
          response.description = 'A refusal as problem+json'
          response.content = { [PROBLEM_MEDIA]: { schema: PROBLEM_REF } }
        } else if (/^2/.test(status) && response.content) {
          for (const m of Object.values(response.content)) {
            if (m.example === undefined && m.schema) m.example = sampleOf(m.schema)
          }
        }
      }
      // Any route can refuse a malformed request (400, 414, 431) or a rate limit (429).
      if (!Object.keys(responses).some((s) => /^4/.test(s))) {
        responses['4XX'] = { description: 'A refusal as problem+json', content: { [PROBLEM_MEDIA]: { schema: PROBLEM_REF } } }
      }
      operation.responses = responses
    }
  }

  const submit = doc.paths?.['/v1/messages']?.post
  if (submit) {
    submit.security = []
    submit.requestBody = {
      required: true,
      description: 'A compact JWS (RFC 7515) whose payload is a Message (`#/components/schemas/Message`), signed by a key of the sending agency.',
      content: {
        'application/jose': {
          schema: { type: 'string', pattern: COMPACT_JWS, description: 'compact JWS; protected header {alg: EdDSA|ES256, kid, typ: leix-message+json}' },
          example: 'eyJhbGciOiJFZERTQSIsImtpZCI6IkFMLUFTUC0xIiwidHlwIjoibGVpeC1tZXNzYWdlK2pzb24ifQ.eyJtZXNzYWdlSWQiOiIuLi4ifQ.c2lnbmF0dXJl',
          // Tools that understand it show the payload's schema; the description says it for the others.
          'x-jws-payload': { $ref: '#/components/schemas/Message' },
        },
      },
    }
  }
  return doc as D
}
