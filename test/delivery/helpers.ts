// Fixtures for delivery tests: a real HTTP recipient on loopback, a per-test directory whose
// agencies push to it, a runtime with the delivery service, a private redis-server, and
// `leix worker` child processes. Real Redis, PostgreSQL and HTTP only.
import { childEnv, waitUntil } from '../../scripts/chaos/services.ts'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Config } from '../../src/config/config.ts'
import type { Clock } from '../../src/config/clock.ts'
import type { Runtime } from '../../src/runtime.ts'
import type { DeliveryService } from '../../src/delivery/service.ts'
import { buildTestApp, dropKeys, freePort, ROOT, type Teardown, type TestApp } from '../helpers.ts'

export { dropKeys }

export const LEIX = new URL('bin/leix.js', ROOT).pathname

/** One request the recipient received. */
export interface Received {
  headers: Record<string, string | string[] | undefined>
  body: string
  at: number
}

/** What the recipient answers: a status, after an optional delay; `hang` never answers. */
export type Answer = number | { status: number; delayMs?: number } | 'hang'

export interface Recipient {
  url: string
  /** Message deliveries (requests with Leix-Message-Id), in arrival order. */
  messages: Received[]
  /** Notification pushes (requests with Leix-Notification-Id). */
  notifications: Received[]
  /** Decides the answer to each message delivery (notifications always get 204). */
  answer: (r: Received, index: number) => Answer
  close(): Promise<void>
}

/** A recipient agency's webhook: a Fastify listener on 127.0.0.1, port 0. */
export async function startRecipient (t: Teardown, answer: Recipient['answer'] = () => 200): Promise<Recipient> {
  const app: FastifyInstance = Fastify({ logger: false, forceCloseConnections: true })
  app.addContentTypeParser('application/jose', { parseAs: 'string' }, (_req, body, done) => done(null, body))
  const recipient: Recipient = {
    url: '',
    messages: [],
    notifications: [],
    answer,
    close: async () => { await app.close() },
  }
  const hanging: (() => void)[] = []
  app.post('/hook', async (request, reply) => {
    const r: Received = { headers: { ...request.headers }, body: String(request.body), at: Date.now() }
    if (request.headers['leix-notification-id']) {
      recipient.notifications.push(r)
      return reply.code(204).send()
    }
    recipient.messages.push(r)
    const a = recipient.answer(r, recipient.messages.length - 1)
    if (a === 'hang') {
      await new Promise<void>((resolve) => hanging.push(resolve))
      return reply.code(503).send()
    }
    const { status, delayMs } = typeof a === 'number' ? { status: a, delayMs: 0 } : a
    if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs))
    return reply.code(status).send()
  })
  app.addHook('preClose', async () => { for (const release of hanging) release() })
  await app.listen({ host: '127.0.0.1', port: 0 })
  recipient.url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/hook`
  t.teardown(() => app.close())
  return recipient
}

/**
 * Writes a copy of the sample directory in a temp dir with the given agencies pushing to the
 * given webhooks (and their budget overrides). Returns its path.
 */
export function writeDirectory (t: Teardown, push: Record<string, { webhook: string; maxAttempts?: number; maxElapsedSeconds?: number }>): string {
  const doc = JSON.parse(readFileSync(new URL('config/directory.sample.json', ROOT), 'utf8')) as { agencies: { id: string; delivery: Record<string, unknown> }[] }
  for (const agency of doc.agencies) {
    const p = push[agency.id]
    if (p) agency.delivery = { mode: 'push', ...p }
  }
  const dir = mkdtempSync(join(tmpdir(), 'leix-dir-'))
  const path = join(dir, 'directory.json')
  writeFileSync(path, JSON.stringify(doc, null, 2))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return path
}

export interface DeliveryTestApp extends TestApp<Clock> {
  /** The delivery service (services.delivery). */
  service: DeliveryService
}

/** Settings that keep delivery tests fast: small backoffs and timeouts, loopback webhooks. */
export const FAST: Partial<Config> = {
  allowInsecureLoopbackWebhooks: true,
  deliveryBackoffMs: 20,
  deliveryTimeoutMs: 2000,
  deliveryMaxAttempts: 4,
  workerConcurrency: 4,
}

/**
 * The test app (buildTestApp) with delivery's settings made fast and its workers on (the audit
 * log's retention and self-check stay off); timers off unless asked: tests drive the reconciler
 * and the watcher with `runOnce()`.
 */
export async function deliveryApp (t: Teardown, o: { config?: Partial<Config>; clock?: Clock; workers?: boolean; timers?: boolean; databaseUrl?: string } = {}): Promise<DeliveryTestApp> {
  const built = await buildTestApp<Clock>(t, {
    ...o, config: { ...FAST, ...o.config }, workers: false, deliveryWorkers: o.workers ?? true, timers: o.timers ?? false,
  })
  return { ...built, service: built.services.delivery }
}

/** Polls `check` every 25 ms until it returns a truthy value, or fails after `timeoutMs` (the fault suite's helper). */
export const waitFor = waitUntil

export async function messageStatus (rt: Runtime, id: string): Promise<string | undefined> {
  const { rows } = await rt.pool.query<{ status: string }>('SELECT status FROM messages WHERE id = $1', [id])
  return rows[0]?.status
}

/**
 * A private redis-server on a free port, without persistence, killed at teardown: for tests
 * that FLUSHALL, which must never touch the shared Redis.
 */
export async function startRedisServer (t: Teardown): Promise<{ url: string; port: number; process: ChildProcess }> {
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  await waitFor('redis-server to listen', () => output.includes('Ready to accept connections') || child.exitCode !== null, 10_000)
  if (child.exitCode !== null) throw new Error(`redis-server exited: ${output}`)
  return { url: `redis://127.0.0.1:${port}`, port, process: child }
}

/**
 * A `leix worker` child process; resolves once it says it is running. Without the operations
 * listener (LEIX_METRICS_PORT 0): on its default port 9464 two workers at once (this suite run
 * beside another, or a local leix) collide and the second exits with EADDRINUSE.
 */
export async function spawnWorker (t: Teardown, env: Record<string, string>): Promise<{ child: ChildProcess; output: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [LEIX, 'worker'], {
    env: childEnv({ LEIX_DEV_KEYS: 'true', LEIX_ALLOW_LOOPBACK_HTTP: 'true', LOG_LEVEL: 'warn', LEIX_METRICS_PORT: '0', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  await waitFor('the worker to start', () => output.includes('leix worker running') || child.exitCode !== null, 30_000)
  if (child.exitCode !== null) throw new Error(`worker exited early (${child.exitCode}): ${output}`)
  return { child, output: () => output, exited }
}

/** Environment for a `leix worker` child that shares a test's database, Redis and queue prefix. */
export function workerEnv (d: { config: Config }, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: d.config.databaseUrl,
    REDIS_URL: d.config.redisUrl,
    LEIX_QUEUE_PREFIX: d.config.queuePrefix,
    LEIX_DIRECTORY: d.config.directoryPath,
    LEIX_DELIVERY_BACKOFF_MS: String(d.config.deliveryBackoffMs),
    LEIX_DELIVERY_TIMEOUT_MS: String(d.config.deliveryTimeoutMs),
    LEIX_DELIVERY_MAX_ATTEMPTS: String(d.config.deliveryMaxAttempts),
    LEIX_WORKER_CONCURRENCY: String(d.config.workerConcurrency),
    LEIX_DELIVERY_LOCK_MS: String(d.config.deliveryLockMs),
    LEIX_DELIVERY_STALLED_INTERVAL_MS: String(d.config.deliveryStalledIntervalMs),
    LEIX_RECONCILE_INTERVAL_MS: String(d.config.reconcileIntervalMs),
    ...extra,
  }
}
