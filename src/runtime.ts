import type { Redis } from 'ioredis'
import type { Clock } from './config/clock.ts'
import { systemClock } from './config/clock.ts'
import type { Config } from './config/config.ts'
import { loadBrokerKey, loadTokenKeys, type SigningKey } from './config/keys.ts'
import { loadDirectory } from './directory/load.ts'
import type { Directory } from './directory/types.ts'
import { createRedis, DeliveryQueue } from './delivery/queue.ts'
import { compileMessageValidator, type MessageValidator } from './intake/message.ts'
import { createPool, type Pool } from './store/db.ts'

/**
 * The resources one leix process holds: created once at start, shared by the gateway and the
 * workers, closed once at shutdown. No module-level state anywhere else.
 */
export interface Runtime {
  config: Config
  clock: Clock
  directory: Directory
  brokerKey: SigningKey
  tokenKeys: { publicPem: string; privatePem?: string; kid: string }
  validateMessage: MessageValidator
  /** The app role's pool (DATABASE_URL): everything but sealing. */
  pool: Pool
  /** The sealer role's pool (LEIX_SEALER_DATABASE_URL): the only connection that seals the audit log. */
  sealerPool: Pool
  redis: Redis
  queue: DeliveryQueue
  close(): Promise<void>
}

/** Loads keys and the directory (throwing on bad configuration) and opens the pools. */
export function createRuntime(config: Config, opts: { clock?: Clock } = {}): Runtime {
  const directory = loadDirectory(config.directoryPath, { allowInsecureLoopbackWebhooks: config.allowInsecureLoopbackWebhooks })
  const brokerKey = loadBrokerKey(config)
  const tokenKeys = loadTokenKeys(config)
  const pool = createPool(config.databaseUrl)
  // One sealing transaction at a time per process (and one in the cluster, under its lock).
  const sealerPool = createPool(config.sealerDatabaseUrl, { max: 2, applicationName: 'leix-sealer' })
  const redis = createRedis(config.redisUrl)
  redis.on('error', () => {}) // reported by /health/ready; ioredis reconnects by itself
  const queue = new DeliveryQueue(redis, config.queuePrefix)
  let closed = false
  return {
    config,
    clock: opts.clock ?? systemClock,
    directory,
    brokerKey,
    tokenKeys,
    validateMessage: compileMessageValidator(),
    pool,
    sealerPool,
    redis,
    queue,
    async close() {
      if (closed) return
      closed = true
      await queue.close().catch(() => {})
      redis.disconnect()
      await pool.end().catch(() => {})
      await sealerPool.end().catch(() => {})
    },
  }
}
