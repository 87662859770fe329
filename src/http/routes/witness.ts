import type { FastifyInstance } from 'fastify'
import { parseCheckpointUnverified } from '../../audit/checkpoint.ts'
import { hashToBase64 } from '../../audit/merkle/hash.ts'
import { formatVkey, logNoteKey } from '../../audit/note.ts'
import { checkpointAt, storedConsistencyProof } from '../../audit/store.ts'
import {
  acceptAlarm, acceptCosignatures, addCheckpointBody, cosignedNote, listAlarms, witnessedCheckpoint, type WitnessDeps,
} from '../../audit/witness-service.ts'
import type { Clock } from '../../config/clock.ts'
import type { Pool } from '../../store/db.ts'
import { DomainError } from '../../errors.ts'
import { problemSchema } from '../problems.ts'

const problems = { '4xx': { description: 'problem+json', ...problemSchema } }
const count = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const
const text = { 200: { description: 'text/plain; charset=utf-8', type: 'string' } } as const
const tags = ['witness']
const cosignatureSchema = {
  type: 'object', required: ['witness', 'keyId', 'signedAt', 'line'],
  properties: { witness: { type: 'string' }, keyId: { type: 'string' }, signedAt: { type: 'string', format: 'date-time' }, line: { type: 'string' } },
} as const

export type WitnessRouteDeps = WitnessDeps & { pool: Pool; clock: Clock; origin: string }

/**
 * Witnessing (c2sp.org/tlog-witness, pulled by the witness): the add-checkpoint body for a witness's
 * last cosigned size, the cosigned notes witnesses send back, their alarms, and checkpoints as
 * signed notes. These routes carry hashes and signatures only, so witnesses need no token: a
 * cosignature or an alarm is authenticated by its signature with a configured witness key.
 */
export async function witnessRoutes (app: FastifyInstance, deps: WitnessRouteDeps): Promise<void> {
  app.get<{ Querystring: { old: number } }>('/v1/witness/add-checkpoint', {
    schema: {
      summary: 'The tlog-witness add-checkpoint body for a witness that last cosigned size `old`: old size, consistency proof, signed checkpoint note',
      description: 'Verify it as a tlog-witness would (log signature, old size, RFC 9162 consistency proof), cosign, then POST /v1/witness/cosignatures. 409 witness-conflict: the log is smaller than what the witness cosigned.',
      tags,
      querystring: { type: 'object', additionalProperties: false, required: ['old'], properties: { old: count } },
      produces: ['text/plain'],
      response: { ...text, ...problems },
    },
  }, async (request, reply) => {
    const { body } = await addCheckpointBody(deps, request.query.old)
    return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-store').send(body)
  })

  // Witnesses send signed notes as text/plain: parsed as text here only (everywhere else text/plain is a 415).
  await app.register(async (notes) => {
    notes.addContentTypeParser('text/plain', { parseAs: 'string', bodyLimit: 65536 }, (_request, body, done) => done(null, body))
    notes.post<{ Body: string }>('/v1/witness/cosignatures', {
      schema: {
        summary: "A witness's cosigned checkpoint note (text/plain): the checkpoint note with its cosignature line(s) appended",
        tags,
        consumes: ['text/plain'],
        body: { type: 'string', maxLength: 65536 },
        response: {
          200: { type: 'object', required: ['treeSize', 'witnesses'], properties: { treeSize: { type: 'integer' }, witnesses: { type: 'array', items: { type: 'string' } } } },
          ...problems,
        },
      },
    }, async (request) => {
      if (typeof request.body !== 'string') throw new DomainError('bad-request', 'send the cosigned note as text/plain')
      return await acceptCosignatures(deps, deps.origin, request.body, deps.clock.now())
    })

    notes.post<{ Body: string }>('/v1/witness/alarms', {
      schema: {
        summary: 'A witness reports that the log contradicts a checkpoint it cosigned (text/plain signed note, leix-witness-alarm/v1)',
        description: 'Recorded as the audit event witness.alarm; readiness fails until that witness cosigns again.',
        tags,
        consumes: ['text/plain'],
        body: { type: 'string', maxLength: 65536 },
        response: { 202: { type: 'object', properties: { recorded: { type: 'boolean' }, witness: { type: 'string' } } }, ...problems },
      },
    }, async (request, reply) => {
      if (typeof request.body !== 'string') throw new DomainError('bad-request', 'send the alarm note as text/plain')
      const { witness } = await acceptAlarm(deps, request.body, deps.clock.now())
      request.log.error({ witness }, 'witness alarm: the log contradicts a checkpoint the witness cosigned')
      return reply.code(202).send({ recorded: true, witness })
    })
  })

  app.get('/v1/witness/alarms', {
    schema: {
      summary: 'Alarms raised by witnesses, newest first',
      tags,
      response: {
        200: {
          type: 'object', required: ['items'],
          properties: { items: { type: 'array', items: { type: 'object', properties: { at: { type: 'string' }, witness: { type: 'string' }, details: { type: 'object', additionalProperties: true } } } } },
        },
      },
    },
  }, async () => ({ items: await listAlarms(deps.pool) }))

  app.get<{ Querystring: { witnesses?: number } }>('/v1/witness/checkpoint', {
    schema: {
      summary: 'The newest checkpoint (or the newest with at least `witnesses` cosignatures) as a C2SP signed note with its cosignatures',
      tags,
      querystring: { type: 'object', additionalProperties: false, properties: { witnesses: { ...count, maximum: 64 } } },
      produces: ['text/plain'],
      response: { ...text, ...problems },
    },
  }, async (request, reply) => {
    const cp = await witnessedCheckpoint(deps.pool, request.query.witnesses ?? 0)
    if (cp === undefined) throw new DomainError('not-found', 'no checkpoint with that many cosignatures')
    const { note } = await cosignedNote(deps.pool, deps.brokerKey, cp)
    return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-store').send(note)
  })

  app.get('/v1/witness/log-key', {
    schema: {
      summary: "The broker's note verifier key (vkey) for this log's origin. Confirm it out of band (e.g. against the broker JWKS with leix witness log-vkey)",
      tags,
      response: text,
    },
  }, async (_request, reply) => reply.type('text/plain; charset=utf-8').send(`${formatVkey(logNoteKey(deps.origin, deps.brokerKey.publicJwk))}\n`))
}

/** The witnessed checkpoint for an auditor's verification (authenticated, unlike the witnesses' routes). */
export async function witnessedCheckpointRoutes (app: FastifyInstance, deps: WitnessRouteDeps): Promise<void> {
  app.get<{ Querystring: { witnesses?: number; from?: number } }>('/v1/audit/checkpoints/witnessed', {
    schema: {
      summary: 'The newest checkpoint with at least `witnesses` cosignatures (default 1), its signed note, and optionally a consistency proof from tree size `from`',
      description: 'Save it and give it to `leix audit verify --witnessed FILE`: the export\'s final checkpoint must be this one or be proven consistent with it.',
      tags: ['audit', ...tags],
      security: [{ bearer: [] }],
      querystring: { type: 'object', additionalProperties: false, properties: { witnesses: { ...count, maximum: 64 }, from: { ...count, minimum: 1 } } },
      response: {
        200: {
          type: 'object', required: ['origin', 'treeSize', 'rootHash', 'timestamp', 'jws', 'note', 'cosignatures'],
          properties: {
            origin: { type: 'string' }, treeSize: { type: 'integer' }, rootHash: { type: 'string' }, timestamp: { type: 'string' }, jws: { type: 'string' },
            note: { type: 'string' }, cosignatures: { type: 'array', items: cosignatureSchema },
            consistency: { type: 'object', properties: { from: { type: 'integer' }, path: { type: 'array', items: { type: 'string' } } } },
          },
        },
        ...problems,
      },
    },
  }, async (request) => {
    const min = request.query.witnesses ?? 1
    const cp = await witnessedCheckpoint(deps.pool, min)
    if (cp === undefined) throw new DomainError('not-found', `no checkpoint has ${min} cosignature(s) yet`)
    const { note, cosignatures } = await cosignedNote(deps.pool, deps.brokerKey, cp)
    const { from } = request.query
    let consistency: { from: number; path: string[] } | undefined
    if (from !== undefined) {
      if (from > cp.treeSize) throw new DomainError('bad-request', `from (${from}) exceeds the witnessed tree size ${cp.treeSize}`)
      if ((await checkpointAt(deps.pool, from)) === undefined) {
        throw new DomainError('not-found', `no checkpoint of tree size ${from}`)
      }
      const path = await storedConsistencyProof(deps.pool, from, cp.treeSize)
      consistency = { from, path: path.map(hashToBase64) }
    }
    return { ...parseCheckpointUnverified(cp.jws).payload, jws: cp.jws, note, cosignatures, ...(consistency ? { consistency } : {}) }
  })
}
