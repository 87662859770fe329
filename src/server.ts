import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { sighupHandler } from './directory/reload.ts'
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import pino, { type Logger } from 'pino'
import { buildApp, type AppOptions } from './app.ts'
import { ConfigError, type Config } from './config/config.ts'
import { createRuntime, type Runtime } from './runtime.ts'
import { checkNoEviction } from './delivery/queue.ts'
import { createPool, isConnectionError, redactUrl } from './store/db.ts'
import { migrateDatabase } from './store/migrations.ts'
import { checkDatabaseRoles } from './store/roles.ts'
import { startServices, type Services } from './background.ts'
import { buildOperationsApp } from './http/operations.ts'

export interface Started {
  runtime: Runtime
  app: FastifyInstance | undefined
  services: Services
  /** Stops taking work, lets running work finish, closes everything. Idempotent. */
  stop(): Promise<void>
}

/** A backing service stayed unreachable for the whole start-up wait (the CLI exits 2). */
export class StartupError extends Error {
  override readonly name = 'StartupError'
}

interface Backing {
  service: string
  /** The configured address, password removed. */
  address: string
  /** What an operator should check. */
  hint: string
  /** The setting that holds the address. */
  variable: string
}

/** The error and the errors it wraps (`cause`), outermost first. */
function causes (err: unknown): unknown[] {
  const chain: unknown[] = []
  for (let e = err; e && typeof e === 'object' && chain.length < 5; e = (e as { cause?: unknown }).cause) chain.push(e)
  return chain
}

/** PostgreSQL's reason when it refused the login itself (no retry helps): bad password, unknown role or database. */
function refusedLogin (err: unknown): string | undefined {
  const pg = causes(err).find((e) => /^(28000|28P01|3D000)$/.test(String((e as { code?: unknown }).code)))
  return pg ? (pg as Error).message : undefined
}

/** A probe of one connection; an error that is not about reaching it names the setting, as checkDatabaseRoles does. */
function probe (variable: string, query: () => Promise<unknown>): () => Promise<unknown> {
  return () => query().catch((err: unknown) => {
    if (causes(err).some(isConnectionError) || refusedLogin(err)) throw err
    throw new Error(`${variable}: ${(err as Error).message}`, { cause: err })
  })
}

/** A listener that cannot bind names the address and what to check, not a stack. */
function listenError (err: unknown, config: Pick<Config, 'host' | 'port'>): unknown {
  const code = (err as { code?: unknown }).code
  if (code === 'EADDRINUSE') return new StartupError(`the gateway cannot listen on ${config.host}:${config.port}: the port is taken (EADDRINUSE); check PORT and HOST, or stop the process that holds the port`)
  if (code === 'EACCES') return new StartupError(`the gateway may not listen on ${config.host}:${config.port} (EACCES); use a port above 1023 in PORT, or give the process the right to bind it`)
  if (code === 'EADDRNOTAVAIL') return new StartupError(`the gateway cannot listen on ${config.host}:${config.port}: the address is not on this machine (EADDRNOTAVAIL); check HOST`)
  return err
}

/**
 * Runs `step` until it succeeds, retrying while it fails because `backing` is unreachable, up to
 * `deadline` (ms since epoch); then throws a StartupError naming the service, its address and
 * what to check. Any other failure is thrown at once.
 */
async function whenReachable<T> (backing: Backing, deadline: number, log: Logger, step: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await step()
    } catch (err) {
      const login = refusedLogin(err)
      if (login) throw new StartupError(`${backing.variable}: ${login}: ${backing.service} at ${backing.address} refused the login; check the user, password and database name`)
      if (!causes(err).some(isConnectionError)) throw err
      const reason = (err as Error).message || (err as { code?: string }).code || String(err)
      if (Date.now() >= deadline) {
        throw new StartupError(`${backing.service} at ${backing.address} is unreachable (${reason}); check ${backing.hint}, and ${backing.variable} (waited LEIX_STARTUP_WAIT)`)
      }
      if (tries === 1) log.warn({ service: backing.service, address: backing.address, error: reason }, `waiting for ${backing.service}`)
      await sleep(500)
    }
  }
}

/**
 * Starts a leix process in the configured role: `serve` (gateway and workers), `gateway` or
 * `worker`. Waits up to `startupWaitSeconds` for PostgreSQL and Redis (then throws StartupError);
 * refuses to start on bad configuration, on Redis that may evict, when migrations fail or are
 * pending, or when a database connection's role has more or less than it needs. All or nothing:
 * when any part fails to start (the port is taken, say), what has started is stopped before the
 * error is thrown, so the process can exit at once.
 */
export async function start (config: Config, opts: { installSignalHandlers?: boolean } = {}): Promise<Started> {
  const log = pino({ level: config.logLevel, name: 'leix' })
  const deadline = Date.now() + config.startupWaitSeconds * 1000
  const pgHint = 'that PostgreSQL runs and accepts connections there'
  const postgres: Backing = { service: 'PostgreSQL', address: redactUrl(config.databaseUrl), hint: pgHint, variable: 'DATABASE_URL' }
  const sealer: Backing = { service: 'PostgreSQL (sealer role)', address: redactUrl(config.sealerDatabaseUrl), hint: pgHint, variable: 'LEIX_SEALER_DATABASE_URL' }
  const redis: Backing = { service: 'Redis', address: redactUrl(config.redisUrl), hint: 'that redis-server runs there', variable: 'REDIS_URL' }
  // Migrations run as the owner role; only when its URL is given (development). In production
  // `leix migrate` runs apart, so the running process never holds the owner's credentials.
  const migrateUrl = config.migrateDatabaseUrl
  if (migrateUrl) {
    // The app's own connection first: when PostgreSQL is down, DATABASE_URL is the address to name.
    const appProbe = createPool(config.databaseUrl)
    try {
      await whenReachable(postgres, deadline, log, probe('DATABASE_URL', () => appProbe.query('select 1')))
    } finally {
      await appProbe.end()
    }
    const owner: Backing = { service: 'PostgreSQL (owner role)', address: redactUrl(migrateUrl), hint: pgHint, variable: 'LEIX_MIGRATE_DATABASE_URL' }
    await whenReachable(owner, deadline, log, () => migrateDatabase(migrateUrl))
  }
  const runtime = createRuntime(config)
  let services: Services | undefined
  let app: FastifyInstance | undefined
  let operations: FastifyInstance | undefined
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      // Gateway first: no new messages; then workers finish or release their jobs.
      if (app) await app.close()
      if (operations) await operations.close()
      await services?.stop()
      await runtime.close()
    })()
    return stopping
  }
  try {
    await whenReachable(postgres, deadline, log, probe('DATABASE_URL', () => runtime.pool.query('select 1')))
    await whenReachable(sealer, deadline, log, probe('LEIX_SEALER_DATABASE_URL', () => runtime.sealerPool.query('select 1')))
    const problems = await whenReachable(postgres, deadline, log, () => checkDatabaseRoles({ app: runtime.pool, sealer: runtime.sealerPool }))
    if (problems.length) throw new ConfigError(`the database is not ready for leix:\n  ${problems.join('\n  ')}`)
    // ioredis reports a refused connection as "max retries per request": name the socket's error instead.
    let redisError: Error | undefined
    const onRedisError = (err: Error) => { redisError = err }
    runtime.redis.on('error', onRedisError)
    await whenReachable(redis, deadline, log, () => runtime.redis.ping().catch((err: unknown) => {
      throw redisError && isConnectionError(redisError) ? Object.assign(new Error(redisError.message, { cause: err }), { code: (redisError as { code?: string }).code }) : err
    })).finally(() => runtime.redis.off('error', onRedisError))
    const eviction = await checkNoEviction(runtime.redis)
    if (eviction) throw new Error(`${eviction}: set maxmemory-policy noeviction`)
    services = await startServices(runtime, { workers: config.role !== 'gateway' })
    if (config.metricsPort > 0) {
      operations = await buildOperationsApp(runtime, services.readiness)
      await operations.listen({ port: config.metricsPort, host: config.metricsHost })
    }
    if (config.role !== 'worker') {
      app = await buildApp(runtime, services, { fastify: serverOptions(config) })
      await app.listen({ port: config.port, host: config.host }).catch((err: unknown) => { throw listenError(err, config) })
    }
  } catch (err) {
    await stop()
    throw err
  }
  if (opts.installSignalHandlers) {
    closeWithGrace({ delay: 30_000 }, async ({ err, signal }) => {
      if (err) log.fatal({ err }, 'uncaught error; shutting down')
      else if (signal && app) app.log.info({ signal }, 'shutting down')
      await stop()
    })
    // SIGHUP: reload the directory and the broker key ring (validated first; README "Key management").
    const reload = sighupHandler(runtime, app?.log ?? log)
    process.on('SIGHUP', () => { void reload() })
  }
  return { runtime, app, services, stop }
}

/** The listener's options: TLS (and client certificates) when configured, timeouts, shutdown. */
export function serverOptions (config: Pick<Config, 'tlsCertPath' | 'tlsKeyPath' | 'tlsClientCaPath' | 'tlsCrlPath'>): AppOptions['fastify'] {
  return {
    ...(config.tlsCertPath && config.tlsKeyPath
      ? {
          https: {
            cert: readFileSync(config.tlsCertPath),
            key: readFileSync(config.tlsKeyPath),
            // Verified in the app (src/http/channel.ts), which answers a refused certificate as a problem.
            ...(config.tlsClientCaPath ? { ca: readFileSync(config.tlsClientCaPath), requestCert: true, rejectUnauthorized: false } : {}),
            ...(config.tlsCrlPath ? { crl: readFileSync(config.tlsCrlPath) } : {}),
            minVersion: 'TLSv1.2',
          },
        }
      : {}),
    connectionTimeout: 30_000,
    keepAliveTimeout: 72_000,
    requestTimeout: 60_000,
    forceCloseConnections: 'idle',
  } as AppOptions['fastify']
}
