import type { Redis } from 'ioredis'
import pino from 'pino'
import type { Clock } from './config/clock.ts'
import { systemClock } from './config/clock.ts'
import type { Config } from './config/config.ts'
import { committedDevKeys, isDevKey, loadBrokerKey, loadTokenKeys, type SigningKey, type TokenKeys } from './config/keys.ts'
import { ConfigError } from './config/config.ts'
import { loadDirectory } from './directory/load.ts'
import type { Directory } from './directory/types.ts'
import { createRedis, DeliveryQueue } from './delivery/queue.ts'
import { compileMessageValidator, type MessageValidator } from './intake/message.ts'
import { OutageLog, watchRedis } from './outage.ts'
import { createPool, type Pool } from './store/db.ts'
import { Metrics } from './observability/metrics.ts'

/**
 * The resources one leix process holds: created once at start, shared by the gateway and the
 * workers, closed once at shutdown. No module-level state anywhere else.
 */
export interface Runtime {
  config: Config
  clock: Clock
  directory: Directory
  brokerKey: SigningKey
  tokenKeys: TokenKeys
  validateMessage: MessageValidator
  /** The app role's pool (DATABASE_URL): everything but sealing. */
  pool: Pool
  /** The sealer role's pool (LEIX_SEALER_DATABASE_URL): the only connection that seals the audit log. */
  sealerPool: Pool
  redis: Redis
  queue: DeliveryQueue
  /** This process's Prometheus registry (src/observability/metrics.ts). */
  metrics: Metrics
  close(): Promise<void>
}

/** Loads keys and the directory (throwing on bad configuration) and opens the pools. */
export function createRuntime (config: Config, opts: { clock?: Clock } = {}): Runtime {
  const directory = loadDirectory(config.directoryPath, { allowInsecureLoopbackWebhooks: config.allowInsecureLoopbackWebhooks })
  const brokerKey = loadBrokerKey(config)
  const tokenKeys = loadTokenKeys(config)
  if (!config.devKeys) refuseDevelopmentKeys(config, directory, brokerKey, tokenKeys)
  for (const principal of config.supervisors) {
    const agency = principal.slice(0, principal.indexOf('/'))
    if (!directory.agencies.has(agency)) throw new ConfigError(`supervisors (LEIX_SUPERVISORS): ${principal}: agency ${agency} is not in the directory`)
  }
  const log = pino({ level: config.logLevel, name: 'leix' })
  const pool = createPool(config.databaseUrl)
  // Idle clients that lose their connection: logged once per outage; the next query reconnects.
  const pgOutage = new OutageLog(log, 'postgres pool', 'postgres')
  pool.on('error', (err) => pgOutage.fail(err))
  pool.on('connect', () => pgOutage.recover())
  // One sealing transaction at a time per process (and one in the cluster, under its lock).
  const sealerPool = createPool(config.sealerDatabaseUrl, { max: 2, applicationName: 'leix-sealer' })
  const sealerOutage = new OutageLog(log, 'postgres sealer pool', 'postgres')
  sealerPool.on('error', (err) => sealerOutage.fail(err))
  sealerPool.on('connect', () => sealerOutage.recover())
  const redis = createRedis(config.redisUrl)
  // Reported by /health/ready and logged once per outage; ioredis reconnects by itself.
  watchRedis(log, 'redis connection', redis)
  const queue = new DeliveryQueue(redis, config.queuePrefix, log)
  const clock = opts.clock ?? systemClock
  const metrics = new Metrics()
  metrics.sources.now = () => clock.now()
  metrics.sources.pools = { app: pool, sealer: sealerPool }
  metrics.sources.queues = async () => ({ delivery: await queue.queue.getJobCounts(), notifications: await queue.notifications.getJobCounts() })
  let closed = false
  return {
    config,
    clock,
    directory,
    brokerKey,
    tokenKeys,
    validateMessage: compileMessageValidator(),
    pool,
    sealerPool,
    redis,
    queue,
    metrics,
    async close () {
      if (closed) return
      closed = true
      metrics.close()
      await queue.close().catch(() => {})
      redis.disconnect()
      await pool.end().catch(() => {})
      await sealerPool.end().catch(() => {})
    },
  }
}

/**
 * Development keys are never trusted by accident: outside development mode (LEIX_DEV_KEYS=true) a
 * directory, broker key or token issuer key that is a development key (marked `dev: true`, or
 * whose private half is committed under config/dev) stops start-up, naming it.
 */
export function refuseDevelopmentKeys (config: Config, directory: Directory, brokerKey: SigningKey, tokenKeys: TokenKeys): void {
  const committed = committedDevKeys()
  const found: string[] = []
  for (const agency of directory.agencies.values()) {
    for (const key of agency.jwks.keys) if (isDevKey(key, committed)) found.push(`directory ${config.directoryPath}: agency ${agency.id} key ${String(key.kid)}`)
  }
  if (isDevKey(brokerKey.publicJwk, committed)) found.push(`LEIX_BROKER_KEY ${config.brokerKeyPath ?? ''} (kid ${brokerKey.kid})`)
  for (const key of tokenKeys.publicJwks ?? []) if (isDevKey(key, committed)) found.push(`token issuer key ${String(key.kid)}`)
  if (found.length > 0) {
    throw new ConfigError(`development keys configured without LEIX_DEV_KEYS=true (their private halves are public):\n  ${found.join('\n  ')}`)
  }
}
