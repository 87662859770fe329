import type { FastifyInstance } from 'fastify'
import type { Clock } from '../../config/clock.ts'
import { acknowledge, listInbox } from '../../delivery/inbox.ts'
import type { Pool } from '../../store/db.ts'
import { actorOf, principalOf, requireRole } from '../auth.ts'
import { problemSchema } from '../problems.ts'

const problems = { '4xx': { description: 'problem+json', ...problemSchema } }

export interface RouteDeps {
  pool: Pool
  clock: Clock
}

/** The pull side of delivery, for the recipient agency's system. */
export async function inboxRoutes (app: FastifyInstance, deps: RouteDeps): Promise<void> {
  app.get<{ Querystring: { limit?: number; cursor?: string } }>('/v1/inbox', {
    schema: {
      summary: "The caller agency's messages not yet acknowledged, oldest first, paged",
      description: 'Each item carries the sender\'s original compact JWS (verify it with the sender\'s keys from /v1/agencies). ' +
        'Acknowledge each with POST /v1/inbox/{messageId}/ack; until then it stays listed. Every fetch is logged as a disclosure. Role: system.',
      tags: ['delivery'],
      security: [{ bearer: [] }],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
          cursor: { type: 'string', maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' },
        },
      },
      response: problems,
    },
  }, async (request) => {
    const principal = principalOf(request)
    requireRole(principal, 'system')
    return listInbox(deps.pool, principal.agency, {
      ...(request.query.limit !== undefined ? { limit: request.query.limit } : {}),
      ...(request.query.cursor ? { cursor: request.query.cursor } : {}),
      actor: { ...actorOf(principal), kind: 'agency-system' },
      now: deps.clock.now(),
    })
  })

  app.post<{ Params: { messageId: string } }>('/v1/inbox/:messageId/ack', {
    schema: {
      summary: 'Acknowledge a message addressed to the caller agency (idempotent)',
      tags: ['delivery'],
      security: [{ bearer: [] }],
      params: { type: 'object', required: ['messageId'], properties: { messageId: { type: 'string', format: 'uuid' } } },
      response: problems,
    },
  }, async (request) => {
    const principal = principalOf(request)
    requireRole(principal, 'system')
    return acknowledge(deps.pool, principal.agency, request.params.messageId.toLowerCase(), {
      actor: { ...actorOf(principal), kind: 'agency-system' },
      now: deps.clock.now(),
    })
  })
}
