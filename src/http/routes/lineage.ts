import type { FastifyInstance } from 'fastify'
import { recordEvent } from '../../audit/record.ts'
import type { Clock } from '../../config/clock.ts'
import { DomainError } from '../../errors.ts'
import { lineageOf } from '../../exchanges/lineage.ts'
import type { Pool } from '../../store/db.ts'
import { actorOf, isSupervisor, principalOf, requireRole } from '../auth.ts'
import { problemSchema } from '../problems.ts'

const problems = { '4xx': { description: 'problem+json', ...problemSchema } }

/** Q3: which exchanges carried data derived from a message, for its provider and the supervisor. */
export async function lineageRoutes (app: FastifyInstance, deps: { pool: Pool; clock: Clock }): Promise<void> {
  app.get<{ Params: { id: string } }>('/v1/messages/:id/derived', {
    schema: {
      summary: 'Lineage (Q3): every message and exchange that carried data derived from this message, transitively (through `origin`)',
      description: 'Officers, systems and DPOs of the sending agency (the provider of the data), and a supervisor. ' +
        'Others get the 404 of a missing message. Recorded as `lineage.read`. Lists only messages that reached their recipient (not held or rejected by review).',
      tags: ['tracking'],
      security: [{ bearer: [] }],
      params: { type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid' } } },
      response: {
        200: {
          type: 'object',
          required: ['messageId', 'exchangeId', 'provider', 'derived', 'exchanges'],
          properties: {
            messageId: { type: 'string' },
            exchangeId: { type: 'string' },
            provider: { type: 'string' },
            exchanges: { type: 'array', items: { type: 'string' } },
            derived: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  messageId: { type: 'string' }, exchangeId: { type: 'string' }, kind: { type: 'string' }, sender: { type: 'string' },
                  recipient: { type: 'string' }, status: { type: 'string' }, receivedAt: { type: 'string' }, origin: { type: 'string' }, depth: { type: 'integer' },
                },
              },
            },
          },
        },
        ...problems,
      },
    },
  }, async (request) => {
    const principal = principalOf(request)
    const supervisor = isSupervisor(principal)
    if (!supervisor) requireRole(principal, 'officer', 'system', 'dpo')
    const now = deps.clock.now()
    const id = request.params.id.toLowerCase()
    let lineage
    try {
      lineage = await lineageOf(deps.pool, id, supervisor ? undefined : principal.agency)
    } catch (err) {
      if (err instanceof DomainError && err.code === 'not-found') {
        // The same answer whether or not the message exists; the refusal is the caller's own event.
        await recordEvent(deps.pool, {
          type: 'access.denied', actor: actorOf(principal), agencies: [principal.agency], outcome: 'denied', reason: 'not-the-provider',
          details: { resource: 'lineage' },
        }, now)
      }
      throw err
    }
    await recordEvent(deps.pool, {
      type: 'lineage.read', actor: actorOf(principal), messageId: lineage.messageId, exchangeId: lineage.exchangeId,
      agencies: [...new Set([lineage.provider, principal.agency])], outcome: 'ok',
      details: { derivedMessages: lineage.derived.length, exchanges: lineage.exchanges.length },
    }, now)
    return lineage
  })
}
