import { readFileSync } from 'node:fs'
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { buildApp, type AppOptions } from './app.ts'
import { ConfigError, type Config } from './config/config.ts'
import { createRuntime, type Runtime } from './runtime.ts'
import { checkNoEviction } from './delivery/queue.ts'
import { migrateDatabase } from './store/migrations.ts'
import { checkDatabaseRoles } from './store/roles.ts'
import { startBackground, type Background } from './background.ts'

export interface Started {
  runtime: Runtime
  app: FastifyInstance | undefined
  background: Background
  /** Stops taking work, lets running work finish, closes everything. Idempotent. */
  stop(): Promise<void>
}

/**
 * Starts a leix process in the configured role: `serve` (gateway and workers), `gateway` or
 * `worker`. Refuses to start on bad configuration, on Redis that may evict, when migrations fail
 * or are pending, or when a database connection's role has more or less than it needs.
 */
export async function start(config: Config, opts: { installSignalHandlers?: boolean } = {}): Promise<Started> {
  // Migrations run as the owner role; only when its URL is given (development). In production
  // `leix migrate` runs apart, so the running process never holds the owner's credentials.
  if (config.migrateDatabaseUrl) await migrateDatabase(config.migrateDatabaseUrl)
  const runtime = createRuntime(config)
  try {
    const problems = await checkDatabaseRoles({ app: runtime.pool, sealer: runtime.sealerPool })
    if (problems.length) throw new ConfigError(`the database is not ready for leix:\n  ${problems.join('\n  ')}`)
    await runtime.redis.ping()
    const eviction = await checkNoEviction(runtime.redis)
    if (eviction) throw new Error(`${eviction}: set maxmemory-policy noeviction (DESIGN.md)`)
  } catch (err) {
    await runtime.close()
    throw err
  }
  const withGateway = config.role !== 'worker'
  const withWorkers = config.role !== 'gateway'
  const background = await startBackground(runtime, { workers: withWorkers })
  let app: FastifyInstance | undefined
  if (withGateway) {
    const appOpts: AppOptions = {
      fastify: {
        ...(config.tlsCertPath && config.tlsKeyPath
          ? {
              https: {
                cert: readFileSync(config.tlsCertPath),
                key: readFileSync(config.tlsKeyPath),
                ...(config.tlsClientCaPath ? { ca: readFileSync(config.tlsClientCaPath), requestCert: true, rejectUnauthorized: false } : {}),
              },
            }
          : {}),
        connectionTimeout: 30_000,
        keepAliveTimeout: 72_000,
        requestTimeout: 60_000,
        forceCloseConnections: 'idle',
      } as AppOptions['fastify'],
      readiness: background.readiness,
      intakeGate: background.intakeGate,
      extensions: background.routes,
    }
    app = await buildApp(runtime, appOpts)
    await app.listen({ port: config.port, host: config.host })
  }
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      // Gateway first: no new messages; then workers finish or release their jobs.
      if (app) await app.close()
      await background.stop()
      await runtime.close()
    })()
    return stopping
  }
  if (opts.installSignalHandlers) {
    closeWithGrace({ delay: 30_000 }, async ({ err, signal }) => {
      if (err) runtime.config.logLevel !== 'silent' && console.error(err)
      else if (signal && app) app.log.info({ signal }, 'shutting down')
      await stop()
    })
  }
  return { runtime, app, background, stop }
}
