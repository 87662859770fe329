// Shared test fixtures: a fresh PostgreSQL database per test file, unique BullMQ prefixes, the
// sample directory with its development keys, and signing helpers. Real services only.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import pg from 'pg'
import * as jose from 'jose'
import type { FastifyInstance } from 'fastify'
import { DATABASE_ROLES, loadConfig, migrationUrl, withUser, type Config } from '../src/config/config.ts'
import { ManualClock, type Clock } from '../src/config/clock.ts'
import { signingKeyFromJwk, type SigningKey } from '../src/config/keys.ts'
import { createRuntime, type Runtime } from '../src/runtime.ts'
import { createRedis } from '../src/delivery/queue.ts'
import { buildApp, type AppOptions } from '../src/app.ts'
import { startServices, type ServiceOptions, type Services } from '../src/background.ts'
import { migrateDatabase } from '../src/store/migrations.ts'
import { setUpDatabase } from '../src/store/roles.ts'
import { exampleMessage } from '../src/cli/example.ts'

export const ROOT = new URL('../', import.meta.url)
const ADMIN_URL = process.env.LEIX_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
export const REDIS_URL = process.env.LEIX_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/** What a test (or `t` itself) offers to clean up after it: the one teardown type of the suite. */
export interface Teardown {
  teardown(fn: () => unknown): void
}

// The database roles are cluster-wide: created once (idempotent, safe when test files run at once),
// never dropped. Trust authentication on localhost lets them log in without a password.
let rolesReady: Promise<void> | undefined
function ensureTestRoles (): Promise<void> {
  rolesReady ??= setUpDatabase(ADMIN_URL, {
    owner: { user: DATABASE_ROLES.owner },
    app: { user: DATABASE_ROLES.app },
    sealer: { user: DATABASE_ROLES.sealer },
  })
  return rolesReady
}

/**
 * Creates an empty database for one test file, owned by the owner role, and drops it afterwards.
 * Returns the app role's URL: the suite runs leix as the unprivileged roles, like production
 * (testConfig derives the sealer's and the owner's URLs from it; see `databaseUrlAs`).
 */
export async function createTestDatabase (t: Teardown): Promise<string> {
  const name = `leix_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`
  await ensureTestRoles()
  const admin = new pg.Client({ connectionString: ADMIN_URL })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name} OWNER ${DATABASE_ROLES.owner}`)
  await admin.end()
  t.teardown(async () => {
    const c = new pg.Client({ connectionString: ADMIN_URL })
    await c.connect()
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    await c.end()
  })
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  return withUser(url.toString(), DATABASE_ROLES.app)
}

/**
 * The same test database as another role: `owner` (migrations), `sealer`, or `admin` (the
 * superuser of LEIX_TEST_ADMIN_URL, for tests that play an insider with full powers).
 */
export function databaseUrlAs (databaseUrl: string, role: 'owner' | 'app' | 'sealer' | 'admin'): string {
  if (role !== 'admin') return withUser(databaseUrl, DATABASE_ROLES[role])
  const url = new URL(ADMIN_URL)
  url.pathname = new URL(databaseUrl).pathname
  return url.toString()
}

/** Applies the migrations to a test database as the owner role (as `leix migrate` does). */
export async function migrateTestDatabase (config: Pick<Config, 'databaseUrl' | 'migrateDatabaseUrl'>): Promise<string[]> {
  return await migrateDatabase(migrationUrl(config))
}

/** Configuration for tests: dev keys, silent logs, a unique queue prefix. */
export function testConfig (databaseUrl: string, overrides: Partial<Config> = {}): Config {
  const config = loadConfig({}, {
    databaseUrl,
    migrateDatabaseUrl: withUser(databaseUrl, DATABASE_ROLES.owner),
    redisUrl: REDIS_URL,
    devKeys: true,
    logLevel: 'silent',
    // Parallel test files would all want the operations listener's default port.
    metricsPort: 0,
    queuePrefix: `leixtest-${randomUUID().slice(0, 8)}`,
    directoryPath: new URL('config/directory.sample.json', ROOT).pathname,
    ...overrides,
  })
  queuePrefixesMade.add(JSON.stringify([config.redisUrl, config.queuePrefix]))
  return config
}

/**
 * Every queue prefix this test file configured, dropped when the file's tests have all ended: a
 * safety net under the per-test clean-up, for runtimes that a test starts itself (`start()`), for
 * writes that land after a runtime closed (rate-limit and refusal counters), whatever the test.
 */
const queuePrefixesMade = new Set<string>()
t.teardown(async () => {
  for (const entry of queuePrefixesMade) {
    const [redisUrl, prefix] = JSON.parse(entry) as [string, string]
    await dropKeys(redisUrl, prefix)
  }
})

/**
 * Deletes every key under a queue prefix, on a connection of its own: call it after everything
 * using the prefix is closed, since a queue or worker still open may write keys again (BullMQ
 * writes a queue's meta key once its connection is ready, which can be after a drop).
 */
export async function dropKeys (redisUrl: string, prefix: string): Promise<void> {
  const redis = createRedis(redisUrl)
  redis.on('error', () => {})
  try {
    const keys = await redis.keys(`${prefix}:*`)
    if (keys.length) await redis.del(...keys)
  } catch {
    // a private redis-server may already be gone
  } finally {
    redis.disconnect()
  }
}

/** Deletes every BullMQ key under a runtime's test prefix; call it after `rt.close()`. */
export async function dropQueueKeys (rt: Runtime): Promise<void> {
  await dropKeys(rt.config.redisUrl, rt.config.queuePrefix)
}

export interface TestApp<C extends Clock = ManualClock> {
  app: FastifyInstance
  rt: Runtime
  services: Services
  clock: C
  config: Config
  databaseUrl: string
}

export interface TestAppOptions<C extends Clock = ManualClock> extends Partial<ServiceOptions> {
  config?: Partial<Config>
  /** @defaultValue a ManualClock at the current time */
  clock?: C
  app?: AppOptions
  /** An existing test database (for two apps on one database). @defaultValue a fresh one */
  databaseUrl?: string
}

/**
 * A migrated runtime, its services and the app, wired as src/server.ts wires them (startServices,
 * then buildApp), on a fresh database; torn down after the test. Unlike the server, by default no
 * workers run (`workers`) and no loop runs on its interval (`timers`): tests drive each round.
 */
export async function buildTestApp<C extends Clock = ManualClock> (t: Teardown, o: TestAppOptions<C> = {}): Promise<TestApp<C>> {
  const databaseUrl = o.databaseUrl ?? (await createTestDatabase(t))
  const config = testConfig(databaseUrl, o.config)
  const clock = o.clock ?? (new ManualClock(new Date()) as unknown as C)
  await migrateTestDatabase(config)
  const rt = createRuntime(config, { clock })
  // Declared before the teardown that closes them, so a failed start still closes what did start.
  let services: Services | undefined // eslint-disable-line prefer-const
  let app: FastifyInstance | undefined // eslint-disable-line prefer-const
  t.teardown(async () => {
    await app?.close()
    await services?.stop()
    await rt.close()
    await dropQueueKeys(rt)
  })
  services = await startServices(rt, {
    workers: o.workers ?? false, timers: o.timers ?? false, ...(o.deliveryWorkers !== undefined ? { deliveryWorkers: o.deliveryWorkers } : {}),
  })
  app = await buildApp(rt, services, o.app)
  return { app, rt, services, clock, config, databaseUrl }
}

/** The committed development key of a sample agency. */
export function agencyKey (agency: string): SigningKey {
  const jwk = JSON.parse(readFileSync(new URL(`config/dev/agencies/${agency}.DEV-ONLY.private.jwk.json`, ROOT), 'utf8')) as jose.JWK
  return signingKeyFromJwk(jwk, agency)
}

/** A valid request from `from` to `to` (PCC-SEE), created at the clock's time. */
export function requestMessage (clock: Clock, o: { from?: string; to?: string } = {}, patch: Record<string, unknown> = {}): Record<string, any> {
  return { ...exampleMessage({ from: o.from ?? 'AL-ASP', to: o.to ?? 'RS-MUP', kind: 'request', officer: 'officer-0042', now: clock.now() }), ...patch }
}

/** Signs a message as an agency (by default with its own dev key and the right header). */
export async function sign (message: unknown, o: { as?: string; key?: SigningKey; header?: Record<string, unknown>; raw?: string } = {}): Promise<string> {
  const key = o.key ?? agencyKey(o.as ?? (message as { from: { agency: string } }).from.agency)
  const payload = o.raw ?? JSON.stringify(message)
  return new jose.CompactSign(new TextEncoder().encode(payload))
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'leix-message+json', ...o.header } as jose.CompactJWSHeaderParameters)
    .sign(key.privateKey)
}

/** POSTs a JWS to /v1/messages through inject(). */
export function submit (app: FastifyInstance, jws: string, contentType = 'application/jose') {
  return app.inject({ method: 'POST', url: '/v1/messages', headers: { 'content-type': contentType }, payload: jws })
}

/** A bearer token for an agency's officer (or other roles). */
export function tokenFor (app: FastifyInstance, agency: string, roles: string[] = ['officer'], sub = `${agency.toLowerCase()}-officer-1`): string {
  return app.jwt.sign({ sub, agency, roles })
}

export async function count (rt: Runtime, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await rt.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM (${sql}) q`, params)
  return rows[0]?.n ?? 0
}

/** A TCP port free on the loopback interface right now (shared with the fault suite). */
export { freePort } from '../scripts/chaos/services.ts'
