import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { parseWitnessKeys } from '../audit/witness.ts'

/** Validated configuration. Units are in the names; schemas/config.schema.json documents each. */
export interface Config {
  port: number
  host: string
  /** The operations listener (metrics, health); 0 turns it off. */
  metricsPort: number
  metricsHost: string
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
  /** JWKS of the token issuer: a file path or an https:// URL (several keys: rotation). */
  tokenJwks?: string
  /** Required `aud` of bearer tokens. Defaults to `leix` in development mode only. */
  tokenAudience: string
  /** Longest accepted token lifetime (`exp - iat`), seconds. */
  tokenMaxLifetimeSeconds: number
  /** Principals granted the cross-agency `supervisor` role, as `AGENCY/subject`. */
  supervisors: string[]
  devKeys: boolean
  bodyLimitBytes: number
  rateLimitPerMinute: number
  /** Load shedding (503 overloaded): mean event-loop delay, ms; 0 = off. */
  shedEventLoopDelayMs: number
  /** Load shedding: submissions waiting for their commit; 0 = off. */
  shedPendingIntake: number
  /** Load shedding: queries waiting for a PostgreSQL connection; 0 = off. */
  shedPoolWaiting: number
  maxSkewSeconds: number
  maxAgeSeconds: number
  queuePrefix: string
  origin: string
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  role: 'serve' | 'gateway' | 'worker'
  tlsCertPath?: string
  tlsKeyPath?: string
  tlsClientCaPath?: string
  /** `optional`: clients may present certificates; `required`: every request must (health probes excepted). */
  tlsClientCert: 'optional' | 'required'
  /** PEM certificate revocation list checked for client certificates. */
  tlsCrlPath?: string
  /** Listen without TLS on a non-loopback address (behind a TLS-terminating proxy only). */
  allowPlaintext: boolean
  /** Fastify trustProxy: false, true, a hop count, or comma-separated addresses/CIDRs of trusted proxies. */
  trustProxy: string
  sealMaxAgeSeconds: number
  checkpointIntervalMs: number
  selfCheckIntervalMs: number
  fullCheckIntervalSeconds: number
  justificationRetentionDays: number
  exchangeAutoCloseSeconds: number
  /** R1: report cells counting fewer than this (and more than 0) are suppressed. */
  reportMinCount: number
  deliveryMaxAttempts: number
  deliveryMaxElapsedSeconds: number
  deliveryBackoffMs: number
  deliveryTimeoutMs: number
  nonDeliverySeconds: number
  /** T2: when both parties are warned that a deadline is near (`75%` of the time, `1h` before; comma-separated). */
  deadlineWarnings: string
  reconcileIntervalMs: number
  deliveryCaPath?: string
  allowInsecureLoopbackWebhooks: boolean
  workerConcurrency: number
  deliveryLockMs: number
  deliveryStalledIntervalMs: number
  /** Witnesses whose cosignatures leix accepts: C2SP vkeys (type 0x04), comma or whitespace separated. */
  witnesses: string
  /** Witnesses asking within this many seconds of a cosigned checkpoint are offered that one. */
  witnessRoundSeconds: number
  startupWaitSeconds: number
}

/** Root of the installed package (for config/ and schemas/). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Environment variable -> config field. */
export const ENV_NAMES: Record<string, keyof Config> = {
  PORT: 'port',
  HOST: 'host',
  LEIX_METRICS_PORT: 'metricsPort',
  LEIX_METRICS_HOST: 'metricsHost',
  DATABASE_URL: 'databaseUrl',
  LEIX_SEALER_DATABASE_URL: 'sealerDatabaseUrl',
  LEIX_MIGRATE_DATABASE_URL: 'migrateDatabaseUrl',
  REDIS_URL: 'redisUrl',
  LEIX_DIRECTORY: 'directoryPath',
  LEIX_BROKER_KEY: 'brokerKeyPath',
  LEIX_TOKEN_PUBLIC_KEY: 'tokenPublicKeyPath',
  LEIX_TOKEN_PRIVATE_KEY: 'tokenPrivateKeyPath',
  LEIX_TOKEN_ISSUER: 'tokenIssuer',
  LEIX_TOKEN_JWKS: 'tokenJwks',
  LEIX_TOKEN_AUDIENCE: 'tokenAudience',
  LEIX_TOKEN_MAX_LIFETIME: 'tokenMaxLifetimeSeconds',
  LEIX_SUPERVISORS: 'supervisors',
  LEIX_DEV_KEYS: 'devKeys',
  LEIX_BODY_LIMIT: 'bodyLimitBytes',
  LEIX_RATE_LIMIT: 'rateLimitPerMinute',
  LEIX_SHED_EVENT_LOOP_DELAY_MS: 'shedEventLoopDelayMs',
  LEIX_SHED_PENDING_INTAKE: 'shedPendingIntake',
  LEIX_SHED_POOL_WAITING: 'shedPoolWaiting',
  LEIX_MAX_SKEW_SECONDS: 'maxSkewSeconds',
  LEIX_MAX_AGE_SECONDS: 'maxAgeSeconds',
  LEIX_QUEUE_PREFIX: 'queuePrefix',
  LEIX_ORIGIN: 'origin',
  LOG_LEVEL: 'logLevel',
  LEIX_ROLE: 'role',
  LEIX_TLS_CERT: 'tlsCertPath',
  LEIX_TLS_KEY: 'tlsKeyPath',
  LEIX_TLS_CLIENT_CA: 'tlsClientCaPath',
  LEIX_TLS_CLIENT_CERT: 'tlsClientCert',
  LEIX_TLS_CRL: 'tlsCrlPath',
  LEIX_ALLOW_PLAINTEXT: 'allowPlaintext',
  LEIX_TRUST_PROXY: 'trustProxy',
  LEIX_SEAL_MAX_AGE: 'sealMaxAgeSeconds',
  LEIX_CHECKPOINT_INTERVAL_MS: 'checkpointIntervalMs',
  LEIX_AUDIT_SELF_CHECK_INTERVAL_MS: 'selfCheckIntervalMs',
  LEIX_AUDIT_FULL_CHECK_INTERVAL: 'fullCheckIntervalSeconds',
  LEIX_JUSTIFICATION_RETENTION_DAYS: 'justificationRetentionDays',
  LEIX_EXCHANGE_AUTO_CLOSE_SECONDS: 'exchangeAutoCloseSeconds',
  LEIX_REPORT_MIN_COUNT: 'reportMinCount',
  LEIX_DELIVERY_MAX_ATTEMPTS: 'deliveryMaxAttempts',
  LEIX_DELIVERY_MAX_ELAPSED: 'deliveryMaxElapsedSeconds',
  LEIX_DELIVERY_BACKOFF_MS: 'deliveryBackoffMs',
  LEIX_DELIVERY_TIMEOUT_MS: 'deliveryTimeoutMs',
  LEIX_NON_DELIVERY_SECONDS: 'nonDeliverySeconds',
  LEIX_DEADLINE_WARNINGS: 'deadlineWarnings',
  LEIX_RECONCILE_INTERVAL_MS: 'reconcileIntervalMs',
  LEIX_DELIVERY_CA: 'deliveryCaPath',
  LEIX_ALLOW_LOOPBACK_HTTP: 'allowInsecureLoopbackWebhooks',
  LEIX_WORKER_CONCURRENCY: 'workerConcurrency',
  LEIX_DELIVERY_LOCK_MS: 'deliveryLockMs',
  LEIX_DELIVERY_STALLED_INTERVAL_MS: 'deliveryStalledIntervalMs',
  LEIX_WITNESSES: 'witnesses',
  LEIX_WITNESS_ROUND_SECONDS: 'witnessRoundSeconds',
  LEIX_STARTUP_WAIT: 'startupWaitSeconds',
}

/**
 * The database roles leix expects (README "Database roles"): the owner runs migrations and owns
 * the tables; the app and the sealer own nothing. Role names are fixed because the migrations
 * grant to them; a login role of another name works as a member of one of them.
 */
export const DATABASE_ROLES = { owner: 'leix_owner', app: 'leix_app', sealer: 'leix_sealer' } as const

/** `url` with another user and no password (the derived defaults of the role URLs). */
export function withUser (url: string, user: string): string {
  const u = new URL(url)
  u.username = user
  u.password = ''
  return u.toString()
}

/** Where migrations run: migrateDatabaseUrl, else databaseUrl with the user `leix_owner`. */
export function migrationUrl (config: Pick<Config, 'databaseUrl' | 'migrateDatabaseUrl'>): string {
  return config.migrateDatabaseUrl ?? withUser(config.databaseUrl, DATABASE_ROLES.owner)
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

const FIELD_TO_ENV = Object.fromEntries(Object.entries(ENV_NAMES).map(([env, field]) => [field, env]))

/**
 * What a server process (serve, gateway, worker) needs beyond the schema, each missing one named
 * with its variable, so that an operator sees the whole list at once.
 */
function missingServerSettings (raw: Record<string, unknown>, dev: boolean): string[] {
  if (dev) return []
  const missing: string[] = []
  if (!raw.brokerKeyPath) missing.push('brokerKeyPath (LEIX_BROKER_KEY): no broker signing key configured')
  if (!raw.tokenJwks && !raw.tokenPublicKeyPath) missing.push('tokenJwks (LEIX_TOKEN_JWKS) or tokenPublicKeyPath (LEIX_TOKEN_PUBLIC_KEY): no token issuer key configured')
  return missing
}

/**
 * Reads configuration from an optional JSON file (`LEIX_CONFIG`, keyed by the variables' names or
 * the schema's field names), then the environment, then `overrides` (tests), applies defaults and
 * validates. Throws one ConfigError listing every bad or missing field with its variable; with
 * `server`, also the keys a server process needs.
 */
export function loadConfig (env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}, opts: { server?: boolean } = {}): Config {
  const schema = JSON.parse(readFileSync(new URL('../../schemas/config.schema.json', import.meta.url), 'utf8'))
  const raw: Record<string, unknown> = {}
  if (env.LEIX_CONFIG) {
    try {
      const file = JSON.parse(readFileSync(env.LEIX_CONFIG, 'utf8')) as Record<string, unknown>
      // README documents the variables; a file may use their names or the schema's fields.
      for (const [key, value] of Object.entries(file)) {
        const field = ENV_NAMES[key]
        raw[field ?? key] = field === 'supervisors' && typeof value === 'string' ? value.split(',').map((v) => v.trim()).filter(Boolean) : value
      }
    } catch (err) {
      throw new ConfigError(`LEIX_CONFIG (${env.LEIX_CONFIG}): ${(err as Error).message}`)
    }
  }
  for (const [name, field] of Object.entries(ENV_NAMES)) {
    const value = env[name]
    if (value !== undefined && value !== '') raw[field] = field === 'supervisors' ? value.split(',').map((v) => v.trim()).filter(Boolean) : value
  }
  Object.assign(raw, overrides)
  // Development conveniences exist only in development mode: outside it, the directory and the
  // token audience must be configured (no sample trust registry by accident).
  const dev = raw.devKeys === true || raw.devKeys === 'true'
  if (dev) {
    raw.directoryPath ??= 'config/directory.sample.json'
    raw.tokenAudience ??= 'leix'
  }
  const ajv = new Ajv2020({ allErrors: true, useDefaults: true, coerceTypes: true, strict: false })
  const validate = ajv.compile(schema)
  const lines: string[] = []
  if (!validate(raw)) {
    lines.push(...(validate.errors ?? []).map((e) => {
      const field = e.instancePath.slice(1) || String(e.params.additionalProperty ?? e.params.missingProperty ?? '')
      const envName = FIELD_TO_ENV[field.split('/')[0] ?? field]
      return e.keyword === 'required' ? `${field}${envName ? ` (${envName})` : ''}: missing` : `${field}${envName ? ` (${envName})` : ''}: ${e.message}`
    }))
  }
  // Every missing setting in one report, not one per start.
  if (!raw.directoryPath) lines.push('directoryPath (LEIX_DIRECTORY): no directory configured')
  if (opts.server) lines.push(...missingServerSettings(raw, dev))
  if (lines.length) {
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}${dev ? '' : '\n(outside development mode, LEIX_DEV_KEYS=true, there are no defaults for directory, keys and audience)'}`)
  }
  const config = raw as unknown as Config
  config.sealerDatabaseUrl ??= withUser(config.databaseUrl, DATABASE_ROLES.sealer)
  if (Boolean(config.tlsCertPath) !== Boolean(config.tlsKeyPath)) {
    throw new ConfigError('tlsCertPath (LEIX_TLS_CERT) and tlsKeyPath (LEIX_TLS_KEY) must be set together')
  }
  try {
    parseWitnessKeys(config.witnesses)
  } catch (err) {
    throw new ConfigError(`witnesses (LEIX_WITNESSES): ${(err as Error).message}`)
  }
  if (!config.directoryPath) {
    throw new ConfigError('directoryPath (LEIX_DIRECTORY): no directory configured; outside development mode (LEIX_DEV_KEYS=true) there is no default')
  }
  if (config.tlsClientCert === 'required' && !config.tlsClientCaPath) {
    throw new ConfigError('tlsClientCert (LEIX_TLS_CLIENT_CERT): required needs tlsClientCaPath (LEIX_TLS_CLIENT_CA)')
  }
  if (config.tlsCrlPath && !config.tlsClientCaPath) throw new ConfigError('tlsCrlPath (LEIX_TLS_CRL) needs tlsClientCaPath (LEIX_TLS_CLIENT_CA)')
  if (config.role !== 'worker' && !config.tlsCertPath && !isLoopback(config.host) && !config.allowPlaintext) {
    throw new ConfigError(`host (HOST) ${config.host} is not a loopback address and no TLS is configured: set LEIX_TLS_CERT and LEIX_TLS_KEY, ` +
      'or LEIX_ALLOW_PLAINTEXT=true behind a TLS-terminating proxy (then set LEIX_TRUST_PROXY to it) (S4)')
  }
  return config
}

/** Whether a listen address stays on this machine. */
export function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

/** Fastify's trustProxy value from its configured text. */
export function trustProxyOption (text: string): boolean | number | string[] {
  if (text === 'false' || text === '') return false
  if (text === 'true') return true
  if (/^\d{1,2}$/.test(text)) return Number(text)
  return text.split(',').map((s) => s.trim()).filter(Boolean)
}
