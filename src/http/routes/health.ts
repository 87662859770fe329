import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { checkNoEviction } from '../../delivery/queue.ts'
import { pendingMigrations } from '../../store/migrations.ts'
import type { ReadinessCheck } from '../../readiness.ts'
import type { Pool } from '../../store/db.ts'
import { checkDatabaseRoles } from '../../store/roles.ts'

/** Liveness (the process answers) and readiness (it can do its work, and if not, why not). */
export async function healthRoutes (app: FastifyInstance, deps: { pool: Pool; sealerPool: Pool; redis: Redis; extra?: ReadinessCheck[]; counts?: () => Promise<object> }): Promise<void> {
  // Request logging is off for probes (app.ts); one debug line each instead of two info lines.
  app.addHook('onResponse', async (request, reply) => {
    request.log.debug({ url: request.url, statusCode: reply.statusCode, responseTime: reply.elapsedTime }, 'health probe')
  })
  app.get('/health/live', { schema: { tags: ['health'], summary: 'The process is up' } }, async () => ({ status: 'ok' }))

  const checks: ReadinessCheck[] = [
    {
      name: 'postgres',
      check: async () => {
        try {
          await deps.pool.query('SELECT 1')
          return undefined
        } catch (err) {
          return `PostgreSQL is unreachable (${(err as Error).message}); intake answers 503 until it is back`
        }
      },
    },
    { name: 'migrations', check: async () => { const p = await pendingMigrations(deps.pool); return p.length ? `pending: ${p.join(', ')}` : undefined } },
    // Both connections log in, and each role holds what it needs and nothing it must not.
    { name: 'database-roles', check: async () => { const p = await checkDatabaseRoles({ app: deps.pool, sealer: deps.sealerPool }); return p.length ? p.join('; ') : undefined } },
    {
      name: 'redis',
      check: async () => {
        if (deps.redis.status !== 'ready') return `redis is ${deps.redis.status}`
        return checkNoEviction(deps.redis)
      },
    },
    ...(deps.extra ?? []),
  ]

  app.get('/health/ready', { schema: { tags: ['health'], summary: 'PostgreSQL, migrations, database roles, Redis (noeviction) and the audit seal, each with its reason when not ready' } }, async (_request, reply) => {
    const counts = deps.counts ? withTimeout(deps.counts(), 2000).catch(() => undefined) : Promise.resolve(undefined)
    const results = await Promise.all(checks.map(async ({ name, check }) => {
      try {
        const problem = await withTimeout(check(), 2000)
        return { name, ok: problem === undefined, ...(problem ? { reason: problem } : {}) }
      } catch (err) {
        return { name, ok: false, reason: (err as Error).message }
      }
    }))
    const ready = results.every((r) => r.ok)
    reply.code(ready ? 200 : 503)
    const numbers = await counts
    return { status: ready ? 'ready' : 'not-ready', checks: Object.fromEntries(results.map(({ name, ...rest }) => [name, rest])), ...(numbers ? { counts: numbers } : {}) }
  })
}

function withTimeout<T> (p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)
    p.then((v) => { clearTimeout(t); resolve(v) }, (e: unknown) => { clearTimeout(t); reject(e) })
  })
}
