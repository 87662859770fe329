// Delivery benchmark: end-to-end latency from accept (the sender reads its 202) to the POST
// arriving at the recipient's webhook, at a steady submission rate; and worker throughput
// draining a queue filled beforehand. leix runs as `leix serve` / `leix gateway` / `leix worker`
// child processes on its own database and queue prefix; the sender and the webhook (a Fastify
// listener on loopback) run in this process, so both timestamps come from one clock.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { freePort } from '../test/helpers.ts'
import { childEnv } from '../scripts/chaos/services.ts'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import * as jose from 'jose'
import pg from 'pg'
import { Redis } from 'ioredis'
import { Agent, request } from 'undici'
import { signingKeyFromJwk, type SigningKey } from '../src/config/keys.ts'
import { exampleMessage } from '../src/cli/example.ts'
import { createPool, ensureDatabase } from '../src/store/db.ts'
import { migrate } from '../src/store/migrations.ts'

const ADMIN = process.env.LEIX_BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const LEIX = new URL('../bin/leix.js', import.meta.url).pathname
/** Senders of the benchmark's requests; all are PCC-SEE parties, like the recipient RS-MUP. */
const SENDERS = ['AL-ASP', 'ME-UP', 'MK-MVR', 'BA-DKPT']
const RECIPIENT = 'RS-MUP'

function percentile (sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  const value = sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number
  return Math.round(value * 10) / 10
}

async function presign (count: number, keys: Map<string, SigningKey>): Promise<{ id: string; jws: string }[]> {
  const out: { id: string; jws: string }[] = []
  for (let i = 0; i < count; i++) {
    const from = SENDERS[i % SENDERS.length] as string
    const key = keys.get(from) as SigningKey
    const message = exampleMessage({ from, to: RECIPIENT, kind: 'request', officer: `officer-${i % 50}` })
    const jws = await new jose.CompactSign(new TextEncoder().encode(JSON.stringify(message)))
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'leix-message+json' })
      .sign(key.privateKey)
    out.push({ id: message.id as string, jws })
  }
  return out
}

/** Starts `leix <role>` and waits until it is ready (HTTP readiness, or its start line for a worker). */
async function startLeix (role: 'serve' | 'gateway' | 'worker', env: Record<string, string>, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [LEIX, role], { env: childEnv({ ...env, PORT: String(port) }), stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`leix ${role} exited: ${stderr}`)
    if (role === 'worker' ? stderr.includes('leix worker running') : await fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.ok, () => false)) return child
    if (Date.now() > deadline) throw new Error(`leix ${role} did not become ready: ${stderr}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function stopLeix (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  child.kill('SIGTERM')
  await once(child, 'exit')
}

/**
 * @param o.rate submissions per second in the latency phase @defaultValue 50
 * @param o.seconds length of the latency phase, s @defaultValue 10
 * @param o.backlog messages queued before the throughput phase @defaultValue 2000
 * @param o.concurrency deliveries in flight per worker (LEIX_WORKER_CONCURRENCY) @defaultValue 16
 */
export async function benchDelivery (o: { rate?: number; seconds?: number; backlog?: number; concurrency?: number } = {}): Promise<Record<string, number | string>> {
  const rate = o.rate ?? 50
  const seconds = o.seconds ?? 10
  const backlog = o.backlog ?? 2000
  const concurrency = o.concurrency ?? 16
  const db = `leix_bench_delivery_${randomUUID().slice(0, 8)}`
  const dbUrl = new URL(ADMIN)
  dbUrl.pathname = `/${db}`
  const databaseUrl = dbUrl.toString()
  const prefix = `leixbench-${randomUUID().slice(0, 8)}`
  const dir = mkdtempSync(join(tmpdir(), 'leix-bench-'))
  const webhook = Fastify({ logger: false })
  const client = new Agent({ connections: 32, keepAliveTimeout: 30_000 })
  const children: ChildProcess[] = []
  try {
    await ensureDatabase(databaseUrl)
    const pool = createPool(databaseUrl, { max: 1 })
    await migrate(pool)
    await pool.end()

    // The recipient: records when each message arrives (first arrival only).
    const arrived = new Map<string, number>()
    let waiter: { count: number; resolve: () => void } | undefined
    webhook.addContentTypeParser('application/jose', { parseAs: 'string' }, (_req, body, done) => done(null, body))
    webhook.post('/hook', async (req, reply) => {
      const id = String(req.headers['leix-message-id'] ?? '')
      if (id && !arrived.has(id)) arrived.set(id, performance.now())
      if (waiter && arrived.size >= waiter.count) waiter.resolve()
      return reply.code(204).send()
    })
    await webhook.listen({ host: '127.0.0.1', port: 0 })
    const hook = `http://127.0.0.1:${(webhook.server.address() as { port: number }).port}/hook`
    const allArrived = (count: number, timeoutMs: number) => new Promise<void>((resolve, reject) => {
      if (arrived.size >= count) return resolve()
      const timer = setTimeout(() => reject(new Error(`only ${arrived.size} of ${count} delivered in ${timeoutMs} ms`)), timeoutMs)
      waiter = { count, resolve: () => { clearTimeout(timer); resolve() } }
    })

    const directory = JSON.parse(readFileSync(new URL('../config/directory.sample.json', import.meta.url), 'utf8')) as { agencies: { id: string; delivery: unknown }[] }
    for (const a of directory.agencies) if (a.id === RECIPIENT) a.delivery = { mode: 'push', webhook: hook }
    const directoryPath = join(dir, 'directory.json')
    writeFileSync(directoryPath, JSON.stringify(directory))
    const env = {
      DATABASE_URL: databaseUrl, REDIS_URL: REDIS, LEIX_QUEUE_PREFIX: prefix, LEIX_DIRECTORY: directoryPath,
      LEIX_DEV_KEYS: 'true', LEIX_ALLOW_LOOPBACK_HTTP: 'true', LOG_LEVEL: 'warn', LEIX_RATE_LIMIT: '1000000',
      LEIX_WORKER_CONCURRENCY: String(concurrency),
    }
    const keys = new Map(SENDERS.map((a) => [a, signingKeyFromJwk(JSON.parse(readFileSync(new URL(`../config/dev/agencies/${a}.DEV-ONLY.private.jwk.json`, import.meta.url), 'utf8')))]))
    const submit = async (port: number, jws: string): Promise<number> => {
      const res = await request(`http://127.0.0.1:${port}/v1/messages`, { dispatcher: client, method: 'POST', headers: { 'content-type': 'application/jose' }, body: jws })
      await res.body.dump()
      if (res.statusCode !== 202) throw new Error(`submission answered ${res.statusCode}`)
      return performance.now()
    }

    // Phase 1: latency at a steady rate, gateway and workers in one `leix serve` process, after
    // a 2 s warm-up at the same rate (not measured: a fresh process compiles its hot paths and
    // opens its connections first).
    const count = rate * seconds
    const warmup = await presign(rate * 2, keys)
    const steady = await presign(count, keys)
    const servePort = await freePort()
    const serve = await startLeix('serve', env, servePort)
    children.push(serve)
    for (let i = 0; i < warmup.length; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1000 / rate))
      void submit(servePort, (warmup[i] as { jws: string }).jws)
    }
    await allArrived(warmup.length, 60_000)
    const acceptedAt = new Map<string, number>()
    const start = performance.now()
    const inFlight: Promise<void>[] = []
    for (let i = 0; i < count; i++) {
      const wait = start + (i * 1000) / rate - performance.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      const { id, jws } = steady[i] as { id: string; jws: string }
      inFlight.push(submit(servePort, jws).then((at) => { acceptedAt.set(id, at) }))
    }
    await Promise.all(inFlight)
    const sendSeconds = (performance.now() - start) / 1000
    await allArrived(warmup.length + count, 60_000)
    // The delivery can reach the webhook before the 202 reaches the sender: that counts as 0.
    const latencies = steady.map(({ id }) => Math.max(0, (arrived.get(id) as number) - (acceptedAt.get(id) as number))).sort((a, b) => a - b)
    await stopLeix(serve)
    // Where the time goes, from PostgreSQL's own timestamps: accept -> attempt start (queue and
    // claim), attempt start -> attempt recorded (signature, POST, answer, outcome transaction).
    const stats = new pg.Client({ connectionString: databaseUrl })
    await stats.connect()
    const { rows } = await stats.query<{ queued: number; attempt: number }>(
      `SELECT extract(epoch FROM d.started_at - m.received_at) * 1000 AS queued, extract(epoch FROM d.ended_at - d.started_at) * 1000 AS attempt
         FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE d.message_id = ANY($1::uuid[])`,
      [steady.map((m) => m.id)]
    )
    await stats.end()
    const queued = rows.map((r) => Number(r.queued)).sort((a, b) => a - b)
    const attempt = rows.map((r) => Number(r.attempt)).sort((a, b) => a - b)

    // Phase 2: worker throughput. A gateway (no workers) fills the queue; then one worker drains it.
    const backlogged = await presign(backlog, keys)
    const gatewayPort = await freePort()
    const gateway = await startLeix('gateway', env, gatewayPort)
    children.push(gateway)
    for (let i = 0; i < backlogged.length; i += 32) {
      await Promise.all(backlogged.slice(i, i + 32).map(({ jws }) => submit(gatewayPort, jws)))
    }
    await stopLeix(gateway)
    const before = arrived.size
    const workerStarted = performance.now()
    const worker = await startLeix('worker', env, await freePort())
    children.push(worker)
    await allArrived(before + backlog, 120_000)
    const times = backlogged.map(({ id }) => arrived.get(id) as number).sort((a, b) => a - b)
    const first = times[0] as number
    const last = times[times.length - 1] as number
    await stopLeix(worker)

    return {
      setup: 'leix child processes (serve; then gateway + worker), sender and HTTP webhook in the bench process, loopback',
      latencyRate: `${rate} msg/s for ${seconds} s after a 2 s warm-up (achieved ${Math.round((count / sendSeconds) * 10) / 10} msg/s)`,
      latencyMessages: count,
      latencyP50Ms: percentile(latencies, 0.5),
      latencyP99Ms: percentile(latencies, 0.99),
      latencyMaxMs: percentile(latencies, 1),
      acceptToAttemptP50Ms: percentile(queued, 0.5),
      acceptToAttemptP99Ms: percentile(queued, 0.99),
      attemptP50Ms: percentile(attempt, 0.5),
      attemptP99Ms: percentile(attempt, 0.99),
      throughputMessages: backlog,
      throughputPerSecond: Math.round((backlog - 1) / ((last - first) / 1000)),
      throughputWithStartupPerSecond: Math.round(backlog / ((last - workerStarted) / 1000)),
      workerConcurrency: concurrency,
    }
  } finally {
    for (const child of children) await stopLeix(child).catch(() => {})
    await webhook.close().catch(() => {})
    await client.close().catch(() => {})
    const redis = new Redis(REDIS)
    const keys = await redis.keys(`${prefix}:*`).catch(() => [] as string[])
    if (keys.length) await redis.del(...keys)
    redis.disconnect()
    const admin = new pg.Client({ connectionString: ADMIN })
    await admin.connect()
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`)
    await admin.end()
    rmSync(dir, { recursive: true, force: true })
  }
}

// `node --import ./bin/register.js bench/delivery.ts` runs it alone.
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  console.table(await benchDelivery())
  process.exit(0)
}
