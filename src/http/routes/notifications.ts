import type { FastifyInstance } from 'fastify'
import { listNotifications } from '../../delivery/notifications.ts'
import { principalOf } from '../auth.ts'
import { problemSchema } from '../problems.ts'
import type { RouteDeps } from './inbox.ts'

/** What leix tells an agency about its exchanges: overdue, non-delivery (T5), undeliverable, review due (D7). */
export async function notificationRoutes (app: FastifyInstance, deps: RouteDeps): Promise<void> {
  app.get<{ Querystring: { after?: number; limit?: number } }>('/v1/notifications', {
    schema: {
      summary: "The caller agency's notifications in order; poll with after = the nextCursor of the previous answer",
      description: 'Push agencies also receive each one at their webhook: a compact JWS (typ leix-notification+json) signed by the broker.',
      tags: ['delivery'],
      security: [{ bearer: [] }],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          after: { type: 'integer', minimum: 0, default: 0 },
          limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
        },
      },
      response: { '4xx': { description: 'problem+json', ...problemSchema } },
    },
  }, async (request) => {
    const principal = principalOf(request)
    return listNotifications(deps.pool, principal.agency, {
      ...(request.query.after !== undefined ? { after: request.query.after } : {}),
      ...(request.query.limit !== undefined ? { limit: request.query.limit } : {}),
    })
  })
}
