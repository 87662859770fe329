import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { parseCheckpointUnverified } from '../../audit/checkpoint.ts'
import { exportChunks, planExport, type ExportRequest } from '../../audit/export/plan.ts'
import { AuditIntegrityError, checkedEvent, raiseAlarm } from '../../audit/integrity.ts'
import { proveJustification } from '../../audit/justification.ts'
import { hashToBase64 } from '../../audit/merkle/hash.ts'
import { verifyInclusion } from '../../audit/merkle/verify.ts'
import { queryEvents, type EventFilters } from '../../audit/query.ts'
import { recordEvent } from '../../audit/record.ts'
import { checkpointAt, latestCheckpoint, sealedEvent, storedConsistencyProof, storedInclusionProof, type SealedEventRow, type StoredCheckpoint } from '../../audit/store.ts'
import type { CheckpointSigningKey } from '../../audit/checkpoint.ts'
import type { Clock } from '../../config/clock.ts'
import type { Pool } from '../../store/db.ts'
import { actorOf, isSupervisor, principalOf, type Principal } from '../auth.ts'
import { isBoundedInstant } from '../../store/input.ts'
import { DomainError } from '../../errors.ts'
import { problemSchema } from '../problems.ts'

const problems = { '4xx': { description: 'problem+json', ...problemSchema } }
const hash = { type: 'string', description: 'base64 SHA-256' } as const
const checkpointSchema = {
  type: 'object',
  required: ['origin', 'treeSize', 'rootHash', 'timestamp', 'jws'],
  properties: {
    origin: { type: 'string' },
    treeSize: { type: 'integer' },
    rootHash: hash,
    timestamp: { type: 'string', format: 'date-time' },
    jws: { type: 'string', description: 'compact JWS by the broker key (typ leix-checkpoint+json): verify with GET /.well-known/jwks.json' },
    note: { type: 'string', description: 'the same checkpoint as a C2SP signed note (tlog-checkpoint) with the witness cosignatures received so far' },
    cosignatures: { type: 'array', items: { type: 'object', additionalProperties: true }, description: 'witness cosignatures (c2sp.org/tlog-cosignature)' },
  },
} as const
const count = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const

/** Auditors and data-protection officers search their own agency's events; supervisors the whole log. */
export function isAuditor (p: Principal): boolean {
  return p.roles.includes('auditor') || p.roles.includes('dpo') || isSupervisor(p)
}

function checkpointView (cp: StoredCheckpoint): Record<string, unknown> {
  const { payload } = parseCheckpointUnverified(cp.jws)
  return { ...payload, jws: cp.jws }
}

/** A seq range bound: a non-negative integer (seq) or an ISO 8601 time. */
function parseBound (value: string | undefined, name: string): { seq?: number; time?: string } {
  if (value === undefined) return {}
  if (/^\d{1,15}$/.test(value)) return { seq: Number(value) }
  if (isBoundedInstant(value)) {
    return { time: new Date(value).toISOString() }
  }
  throw new DomainError('bad-request', `${name} must be a seq (integer) or an ISO 8601 date-time`)
}

/**
 * The audit log's API: checkpoints and proofs for every party, the event
 * search and the streamed export for auditors (`auditor`, `dpo`). Auditors' searches and exports
 * are themselves logged (`audit.queried`, `audit.exported`); refused access is `access.denied`.
 */
export async function auditRoutes (app: FastifyInstance, deps: {
  pool: Pool; clock: Clock; key: CheckpointSigningKey; origin: string
  /** The sealer role's pool: an export may sign the checkpoint at its last event, which only the sealer may store. */
  sealerPool?: Pool
  /** The checkpoint as a signed note with its cosignatures (witness-service.ts). */
  notes?: (cp: StoredCheckpoint) => Promise<{ note: string; cosignatures: unknown[] }>
}): Promise<void> {
  const { pool, clock } = deps

  const deny = async (p: Principal, reason: string, details: Record<string, string | number>, agencies: string[] = []): Promise<void> => {
    await recordEvent(pool, {
      type: 'access.denied', actor: actorOf(p), agencies: [...new Set([p.agency, ...agencies])], outcome: 'denied', reason, details,
    }, clock.now())
  }

  const requireAuditor = async (p: Principal, resource: string): Promise<void> => {
    if (isAuditor(p)) return
    await deny(p, 'role', { resource })
    throw new DomainError('forbidden', 'requires the role auditor, dpo or supervisor')
  }

  /**
   * The sealed event, if the caller may see it: its line lists the caller's agency, or the caller
   * supervises. Decided on the agencies of the hashed line (re-hashed against its leaf first),
   * never on the column copy: an edited column can neither open an event to a stranger nor fake a denial.
   */
  const visibleEvent = async (p: Principal, seq: number, resource: string): Promise<SealedEventRow> => {
    const event = await sealedEvent(pool, seq)
    const agencies = event ? (checkedEvent({ seq: event.seq, line: event.line, leaf_hash: event.leafHash }).agencies as string[]) : []
    if (event && (isSupervisor(p) || agencies.includes(p.agency))) return event
    // Listed for the event's own agencies only: the caller's audit view must not reveal the seq exists.
    if (event) {
      await recordEvent(pool, {
        type: 'access.denied', actor: actorOf(p), agencies, outcome: 'denied', reason: 'not-a-party', details: { resource, seq },
      }, clock.now())
    }
    // The same answer whether or not it exists: another agency learns nothing.
    throw new DomainError('not-found', `no sealed audit event ${seq} visible to ${p.agency}`)
  }

  const checkpointOrLatest = async (treeSize: number | undefined): Promise<StoredCheckpoint> => {
    const cp = treeSize === undefined ? await latestCheckpoint(pool) : await checkpointAt(pool, treeSize)
    if (!cp) throw new DomainError('not-found', treeSize === undefined ? 'no checkpoint has been signed yet' : `no checkpoint of tree size ${treeSize}`)
    return cp
  }

  /** The audit path of a (re-hashed) event in a checkpoint's tree, checked against its signed root. */
  const provenLeaf = async (event: SealedEventRow, cp: StoredCheckpoint): Promise<Buffer[]> => {
    const path = await storedInclusionProof(pool, event.seq, cp.treeSize)
    if (!verifyInclusion(event.leafHash, event.seq, cp.treeSize, path, Buffer.from(cp.rootHash, 'base64'))) {
      throw new AuditIntegrityError(`the stored leaf of seq ${event.seq} is not in the signed tree of size ${cp.treeSize}`, event.seq)
    }
    return path
  }

  const security = [{ bearer: [] }]
  const tags = ['audit']

  app.get('/v1/audit/checkpoints/latest', {
    schema: { summary: 'The newest signed checkpoint (tree head) of the audit log', tags, security, response: { 200: checkpointSchema, ...problems } },
  }, async () => {
    const cp = await checkpointOrLatest(undefined)
    return { ...checkpointView(cp), ...(deps.notes ? await deps.notes(cp) : {}) }
  })

  app.get<{ Params: { treeSize: number } }>('/v1/audit/checkpoints/:treeSize', {
    schema: {
      summary: 'The signed checkpoint of one tree size',
      tags, security,
      params: { type: 'object', required: ['treeSize'], properties: { treeSize: { ...count, minimum: 1 } } },
      response: { 200: checkpointSchema, ...problems },
    },
  }, async (request) => {
    const cp = await checkpointOrLatest(request.params.treeSize)
    return { ...checkpointView(cp), ...(deps.notes ? await deps.notes(cp) : {}) }
  })

  app.get<{ Params: { seq: number } }>('/v1/audit/events/:seq', {
    schema: {
      summary: "One sealed event's canonical line (RFC 8785) and leaf hash: recompute SHA-256(0x00 ‖ line) yourself",
      description: 'Agencies see the events that concern them (find the seqs in GET /v1/exchanges/{id} timeline entries); auditors and DPOs see all.',
      tags, security,
      params: { type: 'object', required: ['seq'], properties: { seq: count } },
      response: {
        200: { type: 'object', required: ['seq', 'line', 'leafHash'], properties: { seq: { type: 'integer' }, line: { type: 'string' }, leafHash: hash } },
        ...problems,
      },
    },
  }, async (request) => {
    const event = await visibleEvent(principalOf(request), request.params.seq, 'audit-event')
    // Proven in the newest signed tree before it leaves (one query): the leaf is the log's, not just the row's.
    const cp = await latestCheckpoint(pool)
    if (cp && event.seq < cp.treeSize) await provenLeaf(event, cp)
    return { seq: event.seq, line: event.line, leafHash: hashToBase64(event.leafHash) }
  })

  app.get<{ Querystring: { seq: number; treeSize?: number } }>('/v1/audit/proofs/inclusion', {
    schema: {
      summary: 'RFC 9162 inclusion proof of one event in a signed tree size (default: the newest checkpoint)',
      description: 'Verify: leafHash = SHA-256(0x00 ‖ line); RFC 9162 §2.1.3.2 with auditPath must give the rootHash of the checkpoint, whose signature you check with the broker JWKS.',
      tags, security,
      querystring: {
        type: 'object', additionalProperties: false, required: ['seq'],
        properties: { seq: count, treeSize: { ...count, minimum: 1, description: 'a size with a checkpoint' } },
      },
      response: {
        200: {
          type: 'object',
          required: ['seq', 'treeSize', 'leafHash', 'line', 'auditPath', 'checkpoint'],
          properties: {
            seq: { type: 'integer' }, treeSize: { type: 'integer' }, leafHash: hash, line: { type: 'string' },
            auditPath: { type: 'array', items: hash, description: 'nearest the leaf first' },
            checkpoint: checkpointSchema,
          },
        },
        ...problems,
      },
    },
  }, async (request) => {
    const p = principalOf(request)
    const { seq, treeSize } = request.query
    const event = await visibleEvent(p, seq, 'inclusion-proof')
    const cp = await checkpointOrLatest(treeSize)
    if (seq >= cp.treeSize) throw new DomainError('bad-request', `seq ${seq} is not in the tree of size ${cp.treeSize}; ask for a later checkpoint`)
    const path = await provenLeaf(event, cp)
    return {
      seq, treeSize: cp.treeSize, leafHash: hashToBase64(event.leafHash), line: event.line,
      auditPath: path.map(hashToBase64), checkpoint: checkpointView(cp),
    }
  })

  app.get<{ Querystring: { from: number; to?: number } }>('/v1/audit/proofs/consistency', {
    schema: {
      summary: 'RFC 9162 consistency proof between two signed tree sizes (default to: the newest checkpoint)',
      description: 'Proves that the tree of size `to` extends the tree of size `from` unchanged (RFC 9162 §2.1.4.2). Both sizes must have checkpoints.',
      tags, security,
      querystring: {
        type: 'object', additionalProperties: false, required: ['from'],
        properties: { from: { ...count, minimum: 1 }, to: { ...count, minimum: 1 } },
      },
      response: {
        200: {
          type: 'object',
          required: ['from', 'to', 'consistencyPath', 'fromCheckpoint', 'toCheckpoint'],
          properties: {
            from: { type: 'integer' }, to: { type: 'integer' },
            consistencyPath: { type: 'array', items: hash },
            fromCheckpoint: checkpointSchema, toCheckpoint: checkpointSchema,
          },
        },
        ...problems,
      },
    },
  }, async (request) => {
    const to = await checkpointOrLatest(request.query.to)
    const from = await checkpointOrLatest(request.query.from)
    if (from.treeSize > to.treeSize) throw new DomainError('bad-request', `from (${from.treeSize}) must not exceed to (${to.treeSize})`)
    const path = await storedConsistencyProof(pool, from.treeSize, to.treeSize)
    return { from: from.treeSize, to: to.treeSize, consistencyPath: path.map(hashToBase64), fromCheckpoint: checkpointView(from), toCheckpoint: checkpointView(to) }
  })

  app.get<{ Querystring: EventFilters }>('/v1/audit/events', {
    schema: {
      summary: "Search the sealed log (auditor, dpo: their agency's events; supervisor: all): by time, agency, exchange, message, type and actor; paged by seq",
      description: 'Each search is itself logged as `audit.queried`. Events appear here once sealed (within seconds). An event is visible to the agencies it lists.',
      tags, security,
      querystring: {
        type: 'object', additionalProperties: false,
        properties: {
          from: { type: 'string', format: 'date-time', description: 'event time at or after' },
          to: { type: 'string', format: 'date-time', description: 'event time before' },
          agency: { type: 'string', pattern: '^[A-Z]{2}-[A-Z0-9]+$', maxLength: 40 },
          exchange: { type: 'string', format: 'uuid' },
          message: { type: 'string', format: 'uuid' },
          type: { type: 'string', pattern: '^[a-z]+(\\.[a-z-]+)+$', maxLength: 64 },
          actor: { type: 'string', minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]+$' },
          limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          cursor: { type: 'string', maxLength: 40, pattern: '^[A-Za-z0-9_-]+$' },
        },
      },
      response: {
        200: {
          type: 'object', required: ['items', 'nextCursor'],
          properties: { items: { type: 'array', items: { type: 'object', additionalProperties: true } }, nextCursor: { type: ['string', 'null'] } },
        },
        ...problems,
      },
    },
  }, async (request) => {
    const p = principalOf(request)
    await requireAuditor(p, 'audit-events')
    const page = await queryEvents(pool, request.query, isSupervisor(p) ? {} : { visibleTo: p.agency })
    const filters = Object.fromEntries(Object.entries(request.query).filter(([k, v]) => v !== undefined && k !== 'cursor').map(([k, v]) => [`filter.${k}`, String(v)]))
    await recordEvent(pool, {
      type: 'audit.queried', actor: actorOf(p), agencies: [...new Set([p.agency, ...(request.query.agency ? [request.query.agency] : [])])],
      ...(request.query.exchange ? { exchangeId: request.query.exchange } : {}),
      ...(request.query.message ? { messageId: request.query.message } : {}),
      outcome: 'ok', details: { ...filters, results: page.items.length, page: request.query.cursor ? 'next' : 'first' },
    }, clock.now())
    return page
  })

  app.get<{ Params: { id: string } }>('/v1/audit/justifications/:id', {
    schema: {
      summary: 'Prove what a justification or review reason said (auditor, dpo of an agency the citing events list; supervisor): the text, its salt, and the HMAC recomputed against the sealed events citing it',
      description: 'The sealed log keeps a justification code, a case reference and HMAC-SHA-256(salt, text) (base64url); the text and salt are kept ' +
        'until the retention period ends (LEIX_JUSTIFICATION_RETENTION_DAYS), then erased (`justification.erased`). Recompute ' +
        'HMAC-SHA-256(key = base64url-decoded salt, message = UTF-8 text) and compare it with `justification.hash` of the event (GET /v1/audit/events/{seq}). ' +
        'Reading the text is recorded as `audit.queried`.',
      tags, security,
      params: { type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid' } } },
      response: {
        200: {
          type: 'object',
          required: ['id', 'code', 'text', 'salt', 'hash', 'recomputed', 'textMatches', 'erasedAt', 'events'],
          properties: {
            id: { type: 'string' }, code: { type: 'string' }, createdAt: { type: 'string' }, eraseBy: { type: 'string' },
            text: { type: ['string', 'null'] }, salt: { type: ['string', 'null'] }, hash: { type: 'string' },
            recomputed: { type: ['string', 'null'] }, textMatches: { type: ['boolean', 'null'] }, erasedAt: { type: ['string', 'null'] },
            events: {
              type: 'array',
              items: { type: 'object', properties: { seq: { type: ['integer', 'null'] }, type: { type: 'string' }, hashMatches: { type: 'boolean' } } },
            },
          },
        },
        ...problems,
      },
    },
  }, async (request) => {
    const p = principalOf(request)
    await requireAuditor(p, 'justification')
    const proof = await proveJustification(pool, request.params.id)
    // Agency-scoped like every other read: a justification exists for the agencies its events list.
    if (proof && !isSupervisor(p) && !proof.agencies.includes(p.agency)) {
      await recordEvent(pool, {
        type: 'access.denied', actor: actorOf(p), agencies: proof.agencies, outcome: 'denied', reason: 'not-a-party', details: { resource: 'justification' },
      }, clock.now())
    }
    if (!proof || (!isSupervisor(p) && !proof.agencies.includes(p.agency))) throw new DomainError('not-found', `no justification ${request.params.id}`)
    await recordEvent(pool, {
      type: 'audit.queried', actor: actorOf(p), agencies: [p.agency], outcome: 'ok',
      details: { resource: 'justification', justificationId: proof.id, erased: proof.erasedAt !== null },
    }, clock.now())
    return proof
  })

  app.get<{ Querystring: { from?: string; to?: string } }>('/v1/audit/export', {
    schema: {
      summary: 'Stream a verifiable NDJSON export of the sealed log (supervisor: it holds every agency\'s events)',
      description:
        '`from`/`to` are seqs (`to` exclusive) or ISO 8601 times (mapped to the seqs of the first and last events in that window); ' +
        'default: the whole log up to the newest checkpoint. Lines: an optional range proof, the events (with seq and prev), interim ' +
        'checkpoints, the covering checkpoint, an end line. Verify offline with `leix audit verify FILE --jwks broker-jwks.json`. ' +
        'Each export is logged as `audit.exported`.',
      tags, security,
      produces: ['application/x-ndjson'],
      querystring: {
        type: 'object', additionalProperties: false,
        properties: { from: { type: 'string', maxLength: 40 }, to: { type: 'string', maxLength: 40 } },
      },
      response: problems,
    },
  }, async (request, reply) => {
    const p = principalOf(request)
    if (!isSupervisor(p)) {
      await deny(p, 'role', { resource: 'audit-export' })
      throw new DomainError('forbidden', 'the export covers every agency\'s events: it requires the role supervisor (auditors and DPOs search their agency\'s events and prove them with inclusion proofs)')
    }
    const from = parseBound(request.query.from, 'from')
    const to = parseBound(request.query.to, 'to')
    const req: ExportRequest = {
      ...(from.seq !== undefined ? { fromSeq: from.seq } : {}), ...(from.time ? { fromTime: from.time } : {}),
      ...(to.seq !== undefined ? { toSeq: to.seq } : {}), ...(to.time ? { toTime: to.time } : {}),
      asked: { from: request.query.from ?? null, to: request.query.to ?? null },
    }
    const plan = await planExport(deps.sealerPool ?? pool, req, { key: deps.key, origin: deps.origin, now: clock.now() })
    if ('refused' in plan) {
      if (plan.refused === 'halted') throw new DomainError('audit-unsealed', plan.detail)
      throw new DomainError('not-found', plan.detail)
    }
    await recordEvent(pool, {
      type: 'audit.exported', actor: actorOf(p), agencies: [p.agency], outcome: 'ok',
      details: {
        start: plan.start, end: plan.end, treeSize: plan.covering.treeSize,
        ...(request.query.from ? { 'filter.from': request.query.from } : {}), ...(request.query.to ? { 'filter.to': request.query.to } : {}),
      },
    }, clock.now())
    reply
      .type('application/x-ndjson; charset=utf-8')
      .header('content-disposition', `attachment; filename="leix-audit-${plan.start}-${plan.end}.ndjson"`)
      .header('cache-control', 'no-store')
    // Headers are gone once streaming starts: a line failing its re-hash mid-way raises the alarm
    // and cuts the stream, so the file lacks its signed statement and no verifier accepts it.
    const guarded = async function * (): AsyncGenerator<string> {
      try {
        yield * exportChunks(pool, plan)
      } catch (err) {
        if (err instanceof AuditIntegrityError) {
          await raiseAlarm(pool, request.log, clock.now(), { seq: err.seq, source: 'GET /v1/audit/export', reason: err.message })
        }
        throw err
      }
    }
    return reply.send(Readable.from(guarded()))
  })
}
