import type { FastifyInstance, FastifyRequest } from 'fastify'
import { recordEvent } from '../../audit/record.ts'
import { submitMessage, type IntakeDeps } from '../../intake/intake.ts'
import { digestOf } from '../../intake/receipt.ts'
import { toProblem } from '../error-handler.ts'
import { DomainError } from '../../errors.ts'
import { problemSchema } from '../problems.ts'

const submitResult = {
  type: 'object',
  required: ['exchangeId', 'messageId', 'status', 'deadline', 'receipt'],
  properties: {
    exchangeId: { type: 'string', format: 'uuid' },
    messageId: { type: 'string', format: 'uuid' },
    status: { type: 'string', enum: ['accepted', 'held'] },
    deadline: { type: ['string', 'null'], format: 'date-time' },
    receipt: { type: 'string', description: 'compact JWS by the broker over {messageId, exchangeId, digest, receivedAt, status}' },
  },
} as const

/**
 * `POST /v1/messages`: the signed intake, as a plugin of its own. A refusal before intake ran
 * (media type, size, rate, input hygiene) is recorded here; from the handler on, intake records
 * its own rejections.
 */
export async function messageRoutes (app: FastifyInstance, deps: { intake: IntakeDeps; bodyLimit: number; gate: () => DomainError | undefined }): Promise<void> {
  const recordedByIntake = new WeakSet<FastifyRequest>()
  // Runs before the app's error handler answers, for this plugin's route only.
  app.addHook('onError', async (request, _reply, err) => {
    if (recordedByIntake.has(request)) return
    await recordEarlyRejection(deps.intake, request, toProblem(err)).catch((e: unknown) => request.log.error({ err: e }, 'could not record the rejection'))
  })
  app.post('/v1/messages', {
    bodyLimit: deps.bodyLimit,
    schema: {
      summary: 'Submit a signed exchange message',
      description: 'Body: a compact JWS (RFC 7515) with protected header {alg: EdDSA|ES256, kid, typ: leix-message+json} over a message valid against schemas/message.schema.json.',
      tags: ['intake'],
      consumes: ['application/jose'],
      response: {
        200: { description: 'The same message was sent before: the first result, without a second effect', ...submitResult },
        202: { description: 'Accepted (or held for review) with a signed receipt', ...submitResult },
        '4xx': { description: 'problem+json', ...problemSchema },
        503: { description: 'problem+json', ...problemSchema },
      },
    },
    onRequest: async (request) => {
      const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
      if (type !== 'application/jose') throw new DomainError('unsupported-media-type', `Content-Type must be application/jose, got ${type || 'none'}`)
      const unsealed = deps.gate()
      if (unsealed) throw unsealed
    },
  }, async (request: FastifyRequest, reply) => {
    const body = typeof request.body === 'string' ? request.body.trim() : ''
    recordedByIntake.add(request)
    const { replayed, result } = await submitMessage(deps.intake, body, { source: request.ip, ...(request.channelAgency ? { channelAgency: request.channelAgency } : {}) })
    return reply.code(replayed ? 200 : 202).send(result)
  })
}

/** Records `message.rejected` for intake failures that happened before intake ran (type, size, rate). */
async function recordEarlyRejection (deps: IntakeDeps, request: FastifyRequest, problem: DomainError): Promise<void> {
  // Nothing can be recorded while the log is unsealed or PostgreSQL is away, nor should be while
  // the gateway sheds load; the 503 says why.
  if (problem.code === 'audit-unsealed' || problem.code === 'unavailable' || problem.code === 'overloaded') return
  // Nothing verified the sender yet unless a client certificate did: count, do not log each (rejections.ts).
  if (!request.channelAgency && deps.rejections) return deps.rejections.count(request.ip, problem.code)
  await recordEvent(deps.pool, {
    type: 'message.rejected', actor: { kind: 'agency-system', ...(request.channelAgency ? { agency: request.channelAgency } : {}) },
    agencies: request.channelAgency ? [request.channelAgency] : [], outcome: 'rejected', reason: problem.code,
    ...(typeof request.body === 'string' ? { digest: digestOf(request.body) } : {}),
  }, deps.clock.now())
}
