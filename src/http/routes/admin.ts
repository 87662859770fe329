import type { FastifyInstance } from 'fastify'
import type { Directory } from '../../directory/types.ts'
import { listHeld, redeliver, review } from '../../delivery/admin.ts'
import { CASE_REF_PATTERN, JUSTIFICATION_CODES, type JustificationCode } from '../../audit/justification.ts'
import type { DeliveryQueue } from '../../delivery/queue.ts'
import { actorOf, principalOf, requireRole } from '../auth.ts'
import { problemSchema } from '../problems.ts'
import type { RouteDeps } from './inbox.ts'

const problems = { '4xx': { description: 'problem+json', ...problemSchema } }
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid' } } } as const

export interface AdminRouteDeps extends RouteDeps {
  directory: Directory
  queue: DeliveryQueue
  log: { warn(obj: object, msg: string): void }
  /** How long justification texts are kept, days (config justificationRetentionDays). */
  justificationRetentionDays?: number
}

const codeProperty = { type: 'string', enum: [...JUSTIFICATION_CODES], description: 'justification code (closed list); the sealed log keeps it, the text only as a salted hash' } as const
const caseRefProperty = { type: 'string', pattern: CASE_REF_PATTERN.source, description: 'case reference: an identifier, not text' } as const

/** Decisions by people on single messages: redelivery (admin) and review of held messages (DPO). */
export async function adminRoutes (app: FastifyInstance, deps: AdminRouteDeps): Promise<void> {
  // PostgreSQL already says the message is due; if Redis fails now, the reconciler enqueues it.
  const enqueue = (id: string) => deps.queue.enqueueNow(id).catch((err: unknown) => deps.log.warn({ err, messageId: id }, 'enqueue failed; the reconciler will retry'))

  app.post<{ Params: { id: string }; Body: { justification?: string; justificationCode?: JustificationCode; caseRef?: string } | undefined }>('/v1/messages/:id/redeliver', {
    schema: {
      summary: 'Send a message again with a fresh delivery budget (admin of the sending or receiving agency)',
      tags: ['delivery'],
      security: [{ bearer: [] }],
      params: idParams,
      body: {
        type: ['object', 'null'], additionalProperties: false,
        properties: { justification: { type: 'string', minLength: 1, maxLength: 1000 }, justificationCode: codeProperty, caseRef: caseRefProperty },
      },
      response: problems,
    },
  }, async (request) => {
    const principal = principalOf(request)
    requireRole(principal, 'admin')
    const text = request.body?.justification
    const justification = text
      ? { text, code: request.body?.justificationCode ?? 'operations' as const, caseRef: request.body?.caseRef }
      : undefined
    const result = await redeliver(deps.pool, request.params.id.toLowerCase(), {
      actor: actorOf(principal), now: deps.clock.now(), ...(justification ? { justification } : {}),
      ...(deps.justificationRetentionDays !== undefined ? { justificationRetentionDays: deps.justificationRetentionDays } : {}),
    })
    await enqueue(result.messageId)
    return result
  })

  app.post<{ Params: { id: string }; Body: { decision: 'release' | 'reject'; justification: string; justificationCode?: JustificationCode; caseRef?: string } }>('/v1/messages/:id/review', {
    schema: {
      summary: "Decide on a message held for review (DPO of the instrument's review body, else of the sending agency; the sender's DPO may always reject): release it for delivery or reject it",
      tags: ['review'],
      security: [{ bearer: [] }],
      params: idParams,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['decision', 'justification'],
        properties: {
          decision: { type: 'string', enum: ['release', 'reject'] },
          justification: { type: 'string', minLength: 3, maxLength: 2000, pattern: '\\S' },
          justificationCode: { ...codeProperty, default: 'data-protection-review' },
          caseRef: caseRefProperty,
        },
      },
      response: problems,
    },
  }, async (request) => {
    const principal = principalOf(request)
    requireRole(principal, 'dpo')
    const result = await review(deps.pool, deps.directory, request.params.id.toLowerCase(), {
      actor: actorOf(principal), decision: request.body.decision, now: deps.clock.now(),
      justification: { text: request.body.justification.trim(), code: request.body.justificationCode ?? 'data-protection-review', caseRef: request.body.caseRef },
      ...(deps.justificationRetentionDays !== undefined ? { justificationRetentionDays: deps.justificationRetentionDays } : {}),
    })
    if (result.decision === 'release') await enqueue(result.messageId)
    return result
  })

  app.get('/v1/review/held', {
    schema: {
      summary: "Held messages the caller's DPO may decide on (its agency's own, and those of instruments it reviews), oldest first, with the rules that held them and mayRelease/mayReject",
      tags: ['review'],
      security: [{ bearer: [] }],
      response: problems,
    },
  }, async (request) => {
    const principal = principalOf(request)
    requireRole(principal, 'dpo')
    return { items: await listHeld(deps.pool, deps.directory, principal.agency) }
  })
}
