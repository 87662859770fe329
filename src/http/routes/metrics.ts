import type { FastifyInstance } from 'fastify'
import type { Metrics } from '../../observability/metrics.ts'

/** `GET /metrics` in the Prometheus text format; registered on the operations listener only (src/http/operations.ts). */
export async function metricsRoutes (app: FastifyInstance, deps: { metrics: Metrics }): Promise<void> {
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    const { contentType, body } = await deps.metrics.scrape()
    return reply.type(contentType).send(body)
  })
}
