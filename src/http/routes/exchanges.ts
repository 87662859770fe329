import type { FastifyInstance } from 'fastify'
import { recordEvent } from '../../audit/record.ts'
import type { Clock } from '../../config/clock.ts'
import { exchangeDetail, exchangeViewers, findExchange, listExchanges, type ExchangeFilters } from '../../exchanges/read.ts'
import { closeExchange, lockExchange } from '../../exchanges/record.ts'
import { EXCHANGE_STATUSES } from '../../exchanges/state.ts'
import { CRIME_AREAS } from '../../intake/message.ts'
import { withTransaction, type Pool } from '../../store/db.ts'
import { actorOf, isSupervisor, principalOf, requireRole } from '../auth.ts'
import { DomainError } from '../../errors.ts'
import { problemSchema } from '../problems.ts'

const problems = { '4xx': { description: 'problem+json', ...problemSchema } }

/** Status tracking for liaison officers and agency systems. */
export async function exchangeRoutes (app: FastifyInstance, deps: { pool: Pool; clock: Clock }): Promise<void> {
  app.get<{ Params: { id: string } }>('/v1/exchanges/:id', {
    schema: {
      summary: 'An exchange: status, deadline, time left, messages (metadata) and timeline of hops',
      tags: ['tracking'],
      security: [{ bearer: [] }],
      params: { type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid' } } },
      response: problems,
    },
  }, async (request) => {
    const principal = principalOf(request)
    const now = deps.clock.now()
    const row = await findExchange(deps.pool, request.params.id)
    const supervisor = isSupervisor(principal)
    if (!row || (!supervisor && !exchangeViewers(row).includes(principal.agency))) {
      if (row) {
        // Listed for those who may see the exchange, not for the caller: its own audit view must
        // not tell it that the id exists (no oracle).
        await recordEvent(deps.pool, {
          type: 'access.denied', actor: actorOf(principal),
          exchangeId: row.id, agencies: exchangeViewers(row), outcome: 'denied', reason: 'not-a-party',
          details: { resource: 'exchange' },
        }, now)
      }
      // The same answer whether or not it exists: another agency learns nothing.
      throw new DomainError('not-found', `no exchange ${request.params.id} for ${principal.agency}`)
    }
    return exchangeDetail(deps.pool, row, principal.agency, now, { supervisor })
  })

  app.get<{ Querystring: ExchangeFilters & { agency?: string } }>('/v1/exchanges', {
    schema: {
      summary: "The caller's agency's exchanges, newest first, paged (a supervisor may name another agency)",
      tags: ['tracking'],
      security: [{ bearer: [] }],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          direction: { type: 'string', enum: ['incoming', 'outgoing'] },
          status: { type: 'string', enum: [...EXCHANGE_STATUSES] },
          overdue: { type: 'boolean' },
          crimeArea: { type: 'string', enum: [...CRIME_AREAS] },
          from: { type: 'string', format: 'date-time', description: 'opened at or after' },
          to: { type: 'string', format: 'date-time', description: 'opened before' },
          limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
          cursor: { type: 'string', maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' },
          agency: { type: 'string', pattern: '^[A-Z]{2}-[A-Z0-9]+$', maxLength: 40, description: 'supervisor only: list as this agency sees its exchanges' },
        },
      },
      response: problems,
    },
  }, async (request) => {
    const principal = principalOf(request)
    const { agency = principal.agency, ...filters } = request.query
    if (agency !== principal.agency && !isSupervisor(principal)) throw new DomainError('forbidden', 'only a supervisor may list another agency\'s exchanges')
    return listExchanges(deps.pool, agency, filters, deps.clock.now())
  })

  app.post<{ Params: { id: string } }>('/v1/exchanges/:id/close', {
    schema: {
      summary: 'The requester acknowledges the final answer and closes the exchange (recorded as exchange.closed)',
      description: 'Officers and systems of the requesting agency; from answered or refused (or, for own-initiative exchanges, delivered or acknowledged). ' +
        'Answered exchanges nobody closes are closed automatically LEIX_EXCHANGE_AUTO_CLOSE_SECONDS after the final answer.',
      tags: ['tracking'],
      security: [{ bearer: [] }],
      params: { type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid' } } },
      response: problems,
    },
  }, async (request) => {
    const principal = principalOf(request)
    requireRole(principal, 'officer', 'system')
    const now = deps.clock.now()
    const actor = actorOf(principal)
    // The same answer as for a missing exchange unless the caller may know of it (a responder
    // does not, while the opening message is held for review).
    const found = await findExchange(deps.pool, request.params.id)
    if (!found || !exchangeViewers(found).includes(principal.agency)) {
      if (found) {
        await recordEvent(deps.pool, {
          type: 'access.denied', actor, exchangeId: found.id, agencies: exchangeViewers(found), outcome: 'denied',
          reason: 'not-a-party', details: { resource: 'exchange-close' },
        }, now)
      }
      throw new DomainError('not-found', `no exchange ${request.params.id} for ${principal.agency}`)
    }
    const outcome = await withTransaction(deps.pool, async (client) => {
      const exchange = await lockExchange(client, request.params.id)
      if (!exchange) throw new DomainError('not-found', `no exchange ${request.params.id} for ${principal.agency}`)
      if (exchange.requester !== principal.agency) throw new DomainError('forbidden', `only the requesting agency ${exchange.requester} closes exchange ${exchange.id}`)
      await closeExchange(client, exchange, 'requester', actor, now)
      return { closed: exchange }
    })
    return { exchangeId: outcome.closed.id, status: outcome.closed.status, closedAt: now.toISOString() }
  })
}
