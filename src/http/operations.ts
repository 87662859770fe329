import Fastify, { type FastifyInstance } from 'fastify'
import type { Runtime } from '../runtime.ts'
import type { ReadinessCheck } from '../readiness.ts'
import { healthRoutes } from './routes/health.ts'
import { metricsRoutes } from './routes/metrics.ts'
import { readinessCounts } from '../observability/counts.ts'

/**
 * The operations listener (LEIX_METRICS_HOST:LEIX_METRICS_PORT, loopback by default): /metrics,
 * /health/live and /health/ready, in every role — so a worker, which has no API port, can be
 * scraped and health-checked too. Plain HTTP and no token because it is not reachable from the
 * network unless the operator binds it elsewhere (README "Metrics").
 */
export async function buildOperationsApp (rt: Runtime, readiness: ReadinessCheck[]): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(metricsRoutes, { metrics: rt.metrics })
  await app.register(healthRoutes, { pool: rt.pool, sealerPool: rt.sealerPool, redis: rt.redis, extra: readiness, counts: () => readinessCounts(rt) })
  return app
}
