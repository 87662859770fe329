import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Ajv2020 } from 'ajv/dist/2020.js'

/** Validated configuration. Units are in the names; schemas/config.schema.json documents each. */
export interface Config {
  port: number
  host: string
  /** The app role's connection (gateway, workers): owns nothing, holds only its grants. */
  databaseUrl: string
  /** The sealer role's connection; defaults to databaseUrl with the user `leix_sealer`. */
  sealerDatabaseUrl: string
  /** The owner role's connection for migrations; when set, serve/gateway/worker also migrate at start. */
  migrateDatabaseUrl?: string
  redisUrl: string
  directoryPath: string
  brokerKeyPath?: string
  tokenPublicKeyPath?: string
  tokenPrivateKeyPath?: string
  tokenIssuer: string
  devKeys: boolean
  bodyLimitBytes: number
  rateLimitPerMinute: number
  maxSkewSeconds: number
  maxAgeSeconds: number
  queuePrefix: string
  origin: string
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  role: 'serve' | 'gateway' | 'worker'
  tlsCertPath?: string
  tlsKeyPath?: string
  tlsClientCaPath?: string
  sealMaxAgeSeconds: number
  checkpointIntervalMs: number
  deliveryMaxAttempts: number
  deliveryMaxElapsedSeconds: number
  deliveryBackoffMs: number
  deliveryTimeoutMs: number
  nonDeliverySeconds: number
  reconcileIntervalMs: number
  deliveryCaPath?: string
  allowInsecureLoopbackWebhooks: boolean
  workerConcurrency: number
  deliveryLockMs: number
  deliveryStalledIntervalMs: number
}

/** Root of the installed package (for config/ and schemas/). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Environment variable -> config field. */
export const ENV_NAMES: Record<string, keyof Config> = {
  PORT: 'port',
  HOST: 'host',
  DATABASE_URL: 'databaseUrl',
  LEIX_SEALER_DATABASE_URL: 'sealerDatabaseUrl',
  LEIX_MIGRATE_DATABASE_URL: 'migrateDatabaseUrl',
  REDIS_URL: 'redisUrl',
  LEIX_DIRECTORY: 'directoryPath',
  LEIX_BROKER_KEY: 'brokerKeyPath',
  LEIX_TOKEN_PUBLIC_KEY: 'tokenPublicKeyPath',
  LEIX_TOKEN_PRIVATE_KEY: 'tokenPrivateKeyPath',
  LEIX_TOKEN_ISSUER: 'tokenIssuer',
  LEIX_DEV_KEYS: 'devKeys',
  LEIX_BODY_LIMIT: 'bodyLimitBytes',
  LEIX_RATE_LIMIT: 'rateLimitPerMinute',
  LEIX_MAX_SKEW_SECONDS: 'maxSkewSeconds',
  LEIX_MAX_AGE_SECONDS: 'maxAgeSeconds',
  LEIX_QUEUE_PREFIX: 'queuePrefix',
  LEIX_ORIGIN: 'origin',
  LOG_LEVEL: 'logLevel',
  LEIX_ROLE: 'role',
  LEIX_TLS_CERT: 'tlsCertPath',
  LEIX_TLS_KEY: 'tlsKeyPath',
  LEIX_TLS_CLIENT_CA: 'tlsClientCaPath',
  LEIX_SEAL_MAX_AGE: 'sealMaxAgeSeconds',
  LEIX_CHECKPOINT_INTERVAL_MS: 'checkpointIntervalMs',
  LEIX_DELIVERY_MAX_ATTEMPTS: 'deliveryMaxAttempts',
  LEIX_DELIVERY_MAX_ELAPSED: 'deliveryMaxElapsedSeconds',
  LEIX_DELIVERY_BACKOFF_MS: 'deliveryBackoffMs',
  LEIX_DELIVERY_TIMEOUT_MS: 'deliveryTimeoutMs',
  LEIX_NON_DELIVERY_SECONDS: 'nonDeliverySeconds',
  LEIX_RECONCILE_INTERVAL_MS: 'reconcileIntervalMs',
  LEIX_DELIVERY_CA: 'deliveryCaPath',
  LEIX_ALLOW_LOOPBACK_HTTP: 'allowInsecureLoopbackWebhooks',
  LEIX_WORKER_CONCURRENCY: 'workerConcurrency',
  LEIX_DELIVERY_LOCK_MS: 'deliveryLockMs',
  LEIX_DELIVERY_STALLED_INTERVAL_MS: 'deliveryStalledIntervalMs',
}

/**
 * The database roles leix expects (README "Database roles"): the owner runs migrations and owns
 * the tables; the app and the sealer own nothing. Role names are fixed because the migrations
 * grant to them; a login role of another name works as a member of one of them.
 */
export const DATABASE_ROLES = { owner: 'leix_owner', app: 'leix_app', sealer: 'leix_sealer' } as const

/** `url` with another user and no password (the derived defaults of the role URLs). */
export function withUser(url: string, user: string): string {
  const u = new URL(url)
  u.username = user
  u.password = ''
  return u.toString()
}

/** Where migrations run: migrateDatabaseUrl, else databaseUrl with the user `leix_owner`. */
export function migrationUrl(config: Pick<Config, 'databaseUrl' | 'migrateDatabaseUrl'>): string {
  return config.migrateDatabaseUrl ?? withUser(config.databaseUrl, DATABASE_ROLES.owner)
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

const FIELD_TO_ENV = Object.fromEntries(Object.entries(ENV_NAMES).map(([env, field]) => [field, env]))

/**
 * Reads configuration from an optional JSON file (`LEIX_CONFIG`), then the environment, then
 * `overrides` (tests), applies defaults and validates. Throws ConfigError naming the bad field.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const schema = JSON.parse(readFileSync(new URL('../../schemas/config.schema.json', import.meta.url), 'utf8'))
  const raw: Record<string, unknown> = {}
  if (env.LEIX_CONFIG) {
    try {
      Object.assign(raw, JSON.parse(readFileSync(env.LEIX_CONFIG, 'utf8')))
    } catch (err) {
      throw new ConfigError(`LEIX_CONFIG (${env.LEIX_CONFIG}): ${(err as Error).message}`)
    }
  }
  for (const [name, field] of Object.entries(ENV_NAMES)) {
    const value = env[name]
    if (value !== undefined && value !== '') raw[field] = value
  }
  Object.assign(raw, overrides)
  const ajv = new Ajv2020({ allErrors: true, useDefaults: true, coerceTypes: true, strict: false })
  const validate = ajv.compile(schema)
  if (!validate(raw)) {
    const lines = (validate.errors ?? []).map((e) => {
      const field = e.instancePath.slice(1) || String(e.params.additionalProperty ?? e.params.missingProperty ?? '')
      const envName = FIELD_TO_ENV[field]
      return `${field}${envName ? ` (${envName})` : ''}: ${e.message}`
    })
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`)
  }
  const config = raw as unknown as Config
  config.sealerDatabaseUrl ??= withUser(config.databaseUrl, DATABASE_ROLES.sealer)
  if (Boolean(config.tlsCertPath) !== Boolean(config.tlsKeyPath)) {
    throw new ConfigError('tlsCertPath (LEIX_TLS_CERT) and tlsKeyPath (LEIX_TLS_KEY) must be set together')
  }
  return config
}
