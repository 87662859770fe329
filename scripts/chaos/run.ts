// `npm run chaos`: the fault suite. For each scenario it starts a fresh database and redis-server,
// one `leix gateway` and two `leix worker` processes and a local webhook recipient, sends N signed
// messages from concurrent clients that resend on 5xx and connection errors, injects one fault,
// waits until everything accepted is delivered, and checks: nothing lost, no body changed, every
// duplicate a later attempt, no process crashed (nothing restarts a process unless the scenario
// killed it), every process stops cleanly, and the audit log exports and verifies.
//
//   npm run chaos [-- --messages N] [--clients C] [--scenarios a,b] [--short] [--list]
//
// Exits 1 when any scenario fails a check, 2 on bad arguments.
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import * as jose from 'jose'
import pg from 'pg'
import { exampleMessage } from '../../src/cli/example.ts'
import { systemClock } from '../../src/config/clock.ts'
import { DATABASE_ROLES, loadConfig, withUser } from '../../src/config/config.ts'
import { loadBrokerKey, signingKeyFromJwk, type SigningKey } from '../../src/config/keys.ts'
import { exportChunks, planExport } from '../../src/audit/export/plan.ts'
import { sealPending } from '../../src/audit/sealer.ts'
import { verifyExport } from '../../src/audit/export/verify.ts'
import { createPool } from '../../src/store/db.ts'
import { loginOf, setUpDatabase } from '../../src/store/roles.ts'
import {
  freePort, kill, postgresBin, spawnLeix, startPostgresCluster, startRedisServer, waitRunning, waitUntil,
  type LeixProcess, type PostgresCluster, type RedisServer,
} from './services.ts'

const ROOT = new URL('../../', import.meta.url)
const SENDER = 'AL-ASP'
const RECIPIENT = 'RS-MUP'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// ------------------------------------------------------------------------------------------
// The recipient: a webhook on loopback that records every POST and answers as told.

type Mode = 'ok' | 'fail' | 'hang'
interface Post { id: string; attempt: number; body: string; answered: number | 'hung' }

class Recipient {
  mode: Mode = 'ok'
  readonly posts: Post[] = []
  readonly delivered = new Map<string, number>() // id -> POSTs answered 200
  readonly #hanging: ServerResponse[] = []
  readonly #server = createServer((req, res) => this.#handle(req, res))
  url = ''

  async start (): Promise<void> {
    this.#server.keepAliveTimeout = 60_000
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.#server.address() as { port: number }).port}/hook`
  }

  #handle (req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (req.headers['leix-notification-id']) {
        res.writeHead(204).end()
        return
      }
      const post: Post = {
        id: String(req.headers['leix-message-id']), attempt: Number(req.headers['leix-delivery-attempt']),
        body: Buffer.concat(chunks).toString(), answered: 'hung',
      }
      this.posts.push(post)
      if (this.mode === 'hang') {
        this.#hanging.push(res)
        return
      }
      post.answered = this.mode === 'ok' ? 200 : 500
      if (post.answered === 200) this.delivered.set(post.id, (this.delivered.get(post.id) ?? 0) + 1)
      res.writeHead(post.answered).end()
    })
  }

  async close (): Promise<void> {
    for (const res of this.#hanging.splice(0)) res.destroy()
    this.#server.closeAllConnections()
    await new Promise((resolve) => this.#server.close(resolve))
  }
}

// ------------------------------------------------------------------------------------------
// One deployment: database, redis-server, gateway, two workers.

interface Deployment {
  databaseUrl: string
  redis: RedisServer
  cluster: PostgresCluster | undefined
  gatewayUrl: string
  gateway: LeixProcess
  workers: LeixProcess[]
  /** Processes the scenario stopped or killed on purpose (their exits are not crashes). */
  expectedExits: Set<LeixProcess>
  /** Processes that exited on their own: crashes. */
  crashes: string[]
  env: Record<string, string>
  spawn(role: 'gateway' | 'worker'): Promise<LeixProcess>
}

async function deploy (name: string, o: { cluster: PostgresCluster | undefined; aof: boolean; recipient: Recipient; dir: string }): Promise<Deployment> {
  const redis = await startRedisServer({ aof: o.aof })
  const dbName = `leix_chaos_${name.replace(/\W/g, '_')}_${randomUUID().slice(0, 8)}`
  const databaseUrl = o.cluster ? o.cluster.urlFor(dbName) : `postgres://postgres@127.0.0.1:5432/${dbName}`
  // The processes run as the unprivileged roles and migrate as the owner, as in production
  // (README "Database roles"); the scenario itself keeps the superuser URL to inflict its faults.
  const adminUrl = new URL(databaseUrl)
  adminUrl.pathname = '/postgres'
  const roleUrls = { owner: withUser(databaseUrl, DATABASE_ROLES.owner), app: withUser(databaseUrl, DATABASE_ROLES.app), sealer: withUser(databaseUrl, DATABASE_ROLES.sealer) }
  await setUpDatabase(adminUrl.toString(), { owner: loginOf(roleUrls.owner), app: loginOf(roleUrls.app), sealer: loginOf(roleUrls.sealer) }, dbName)
  const directory = JSON.parse(readFileSync(new URL('config/directory.sample.json', ROOT), 'utf8')) as { agencies: { id: string; delivery: Record<string, unknown> }[] }
  for (const a of directory.agencies) if (a.id === RECIPIENT) a.delivery = { mode: 'push', webhook: o.recipient.url }
  const directoryPath = join(o.dir, `directory-${name}.json`)
  writeFileSync(directoryPath, JSON.stringify(directory))
  const port = await freePort()
  const env: Record<string, string> = {
    DATABASE_URL: roleUrls.app, LEIX_SEALER_DATABASE_URL: roleUrls.sealer, LEIX_MIGRATE_DATABASE_URL: roleUrls.owner, REDIS_URL: redis.url, LEIX_QUEUE_PREFIX: 'chaos', LEIX_DIRECTORY: directoryPath,
    LEIX_DEV_KEYS: 'true', LEIX_ALLOW_LOOPBACK_HTTP: 'true', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn',
    LEIX_RATE_LIMIT: '1000000', LEIX_MAX_AGE_SECONDS: '3600', LEIX_STARTUP_WAIT: '60',
    LEIX_DELIVERY_BACKOFF_MS: '200', LEIX_DELIVERY_TIMEOUT_MS: '2000', LEIX_DELIVERY_MAX_ATTEMPTS: '1000', LEIX_DELIVERY_MAX_ELAPSED: '3600',
    LEIX_RECONCILE_INTERVAL_MS: '1000', LEIX_CHECKPOINT_INTERVAL_MS: '500', LEIX_DELIVERY_LOCK_MS: '5000',
    LEIX_DELIVERY_STALLED_INTERVAL_MS: '2000', LEIX_WORKER_CONCURRENCY: '16',
  }
  const d: Deployment = {
    databaseUrl, redis, cluster: o.cluster, gatewayUrl: `http://127.0.0.1:${port}`, env,
    gateway: undefined as unknown as LeixProcess, workers: [], expectedExits: new Set(), crashes: [],
    async spawn (role) {
      const p = spawnLeix(role, env)
      void p.exited.then(({ code, signal }) => {
        if (!d.expectedExits.has(p)) d.crashes.push(`${role} exited (${code ?? signal}): ${p.output().split('\n').filter(Boolean).slice(-3).join(' | ')}`)
      })
      await waitRunning(p, role === 'gateway' ? d.gatewayUrl : undefined, 90_000)
      return p
    },
  }
  // The gateway first: it migrates the fresh database; then the workers.
  d.gateway = await d.spawn('gateway')
  d.workers = await Promise.all([d.spawn('worker'), d.spawn('worker')])
  return d
}

/** Stops a process on purpose: its exit is no crash. Returns its exit code or signal. */
async function stopProcess (d: Deployment, p: LeixProcess, signal: NodeJS.Signals): Promise<string> {
  d.expectedExits.add(p)
  const { code, signal: sig } = await kill(p, signal)
  return String(code ?? sig)
}

// ------------------------------------------------------------------------------------------
// Clients: sign N messages, send them from C concurrent loops, resend on 5xx or no answer.

interface Sent { id: string; jws: string }
interface Traffic { accepted: Set<string>; rejected: string[]; serverErrors: number; connectionErrors: number; done: boolean }

async function signAll (n: number): Promise<Sent[]> {
  const jwk = JSON.parse(readFileSync(new URL(`config/dev/agencies/${SENDER}.DEV-ONLY.private.jwk.json`, ROOT), 'utf8')) as jose.JWK
  const key: SigningKey = signingKeyFromJwk(jwk, SENDER)
  const out: Sent[] = []
  for (let i = 0; i < n; i++) {
    const message = exampleMessage({ from: SENDER, to: RECIPIENT, kind: 'request', officer: 'officer-0042', now: new Date() })
    const jws = await new jose.CompactSign(new TextEncoder().encode(JSON.stringify(message)))
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'leix-message+json' } as jose.CompactJWSHeaderParameters)
      .sign(key.privateKey)
    out.push({ id: String(message.id), jws })
  }
  return out
}

function sendAll (d: Deployment, messages: Sent[], clients: number): { traffic: Traffic; finished: Promise<void> } {
  const traffic: Traffic = { accepted: new Set(), rejected: [], serverErrors: 0, connectionErrors: 0, done: false }
  let next = 0
  const client = async (): Promise<void> => {
    for (let i = next++; i < messages.length; i = next++) {
      const m = messages[i] as Sent
      for (;;) {
        try {
          const res = await fetch(`${d.gatewayUrl}/v1/messages`, {
            method: 'POST', headers: { 'content-type': 'application/jose' }, body: m.jws, signal: AbortSignal.timeout(15_000),
          })
          await res.arrayBuffer()
          if (res.status === 200 || res.status === 202) {
            traffic.accepted.add(m.id)
            break
          }
          if (res.status >= 500) traffic.serverErrors++
          else {
            traffic.rejected.push(`${m.id}: ${res.status}`)
            break
          }
        } catch {
          traffic.connectionErrors++
        }
        await sleep(200)
      }
    }
  }
  const finished = Promise.all(Array.from({ length: clients }, client)).then(() => { traffic.done = true })
  return { traffic, finished }
}

// ------------------------------------------------------------------------------------------
// Scenarios.

interface Context {
  d: Deployment
  recipient: Recipient
  traffic: Traffic
  total: number
  /** Resolves once this fraction of the messages was accepted. */
  accepted(fraction: number): Promise<void>
  notes: string[]
}

interface Scenario {
  name: string
  what: string
  aof?: boolean
  needsCluster?: boolean
  initialMode?: Mode
  /** Runs while the clients send. */
  during?(c: Context): Promise<void>
  /** Runs once everything was sent, before the drain is timed. */
  afterSend?(c: Context): Promise<void>
}

async function restartRedis (c: Context, pauseMs: number): Promise<void> {
  await c.d.redis.kill9()
  await sleep(pauseMs)
  await c.d.redis.restart()
}

const SCENARIOS: Scenario[] = [
  { name: 'baseline', what: 'no fault' },
  {
    name: 'worker-kill', what: 'SIGKILL a worker at 30 %, restart it',
    async during (c) {
      await c.accepted(0.3)
      const [victim] = c.d.workers
      await stopProcess(c.d, victim as LeixProcess, 'SIGKILL')
      c.d.workers[0] = await c.d.spawn('worker')
    },
  },
  {
    name: 'gateway-kill', what: 'SIGKILL the gateway at 30 %, restart it',
    async during (c) {
      await c.accepted(0.3)
      await stopProcess(c.d, c.d.gateway, 'SIGKILL')
      c.d.gateway = await c.d.spawn('gateway')
    },
  },
  {
    name: 'redis-kill-aof', what: 'Redis kill -9 at 30 % (append-only file), restart after 2 s', aof: true,
    async during (c) { await c.accepted(0.3); await restartRedis(c, 2000) },
  },
  {
    name: 'redis-kill', what: 'Redis kill -9 at 30 % (no persistence: every job lost), restart after 2 s',
    async during (c) { await c.accepted(0.3); await restartRedis(c, 2000) },
  },
  {
    name: 'redis-backlog', what: 'recipient fails until all is sent (backlog of retries), then Redis kill -9 (no persistence), recipient back',
    initialMode: 'fail',
    async afterSend (c) {
      await restartRedis(c, 1000)
      c.recipient.mode = 'ok'
    },
  },
  {
    name: 'recipient-500', what: 'recipient answers 500 from 20 % for 5 s',
    async during (c) { await c.accepted(0.2); c.recipient.mode = 'fail'; await sleep(5000); c.recipient.mode = 'ok' },
  },
  {
    name: 'recipient-hang', what: 'recipient never answers (beyond the 2 s delivery timeout) from 20 % for 5 s',
    async during (c) { await c.accepted(0.2); c.recipient.mode = 'hang'; await sleep(5000); c.recipient.mode = 'ok' },
  },
  {
    name: 'pg-terminate', what: 'pg_terminate_backend on every leix connection at 20 %, 50 % and 80 %',
    async during (c) {
      const admin = new pg.Client({ connectionString: c.d.databaseUrl })
      admin.on('error', () => {})
      await admin.connect()
      try {
        const db = new URL(c.d.databaseUrl).pathname.slice(1)
        for (const f of [0.2, 0.5, 0.8]) {
          await c.accepted(f)
          const { rowCount } = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db])
          c.notes.push(`${rowCount ?? 0} connections terminated at ${f * 100} %`)
        }
      } finally {
        await admin.end().catch(() => {})
      }
    },
  },
  {
    name: 'pg-stop', what: 'PostgreSQL stopped for 10 s at 30 %', needsCluster: true,
    async during (c) {
      await c.accepted(0.3)
      c.d.cluster?.stop()
      await sleep(10_000)
      c.d.cluster?.start()
    },
  },
  {
    name: 'gateway-sigterm', what: 'SIGTERM the gateway at 50 % (must exit 0), restart it',
    async during (c) {
      await c.accepted(0.5)
      const exit = await stopProcess(c.d, c.d.gateway, 'SIGTERM')
      if (exit !== '0') c.d.crashes.push(`gateway SIGTERM exit ${exit}, expected 0`)
      c.d.gateway = await c.d.spawn('gateway')
    },
  },
]

const SHORT = ['worker-kill', 'redis-kill', 'pg-terminate', 'gateway-sigterm']

// ------------------------------------------------------------------------------------------
// Checks.

interface Row {
  scenario: string
  accepted: number
  delivered: number
  lost: number
  duplicates: number
  duplicatesLater: boolean
  bodiesChanged: number
  client5xx: number
  drainSeconds: number
  crashes: string[]
  audit: string
  notes: string[]
  ok: boolean
}

/** Seals what the stopped processes left, exports the whole log and verifies it offline. */
async function verifyAudit (databaseUrl: string, env: Record<string, string>): Promise<string> {
  const config = loadConfig(env)
  const pool = createPool(databaseUrl, { max: 2 })
  try {
    const key = loadBrokerKey(config)
    await sealPending({ pool, clock: systemClock, key, origin: config.origin }, 1000)
    const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events WHERE seq IS NULL')
    if ((rows[0]?.n ?? 0) > 0) return `FAIL ${rows[0]?.n} unsealed`
    const plan = await planExport(pool, { fromSeq: 0 }, { key, origin: config.origin, now: new Date() })
    if ('refused' in plan) return `FAIL export refused: ${plan.detail}`
    let text = ''
    for await (const chunk of exportChunks(pool, plan)) text += chunk
    const jwks = { keys: [key.publicJwk] }
    const result = await verifyExport(text.split('\n').filter((l) => l.length > 0), jwks)
    return result.ok ? `ok (${result.events} events)` : `FAIL ${result.code} at seq ${result.seq ?? '?'}: ${result.reason}`
  } finally {
    await pool.end()
  }
}

async function runScenario (s: Scenario, o: { messages: number; clients: number; cluster: PostgresCluster | undefined; dir: string }): Promise<Row> {
  const recipient = new Recipient()
  await recipient.start()
  recipient.mode = s.initialMode ?? 'ok'
  const d = await deploy(s.name, { cluster: o.cluster, aof: s.aof ?? false, recipient, dir: o.dir })
  const notes: string[] = []
  try {
    const messages = await signAll(o.messages)
    const sentBody = new Map(messages.map((m) => [m.id, m.jws]))
    const { traffic, finished } = sendAll(d, messages, o.clients)
    const c: Context = {
      d, recipient, traffic, total: messages.length, notes,
      accepted: (fraction) => waitUntil(`${fraction * 100} % accepted`, () => traffic.accepted.size >= fraction * messages.length || traffic.done, 600_000).then(() => undefined),
    }
    await Promise.all([finished, s.during?.(c)])
    await s.afterSend?.(c)
    const sentAt = Date.now()
    const allDelivered = () => [...traffic.accepted].every((id) => recipient.delivered.has(id))
    await waitUntil('every accepted message delivered', allDelivered, 180_000).catch(() => notes.push('drain timed out after 180 s'))
    const drainSeconds = (Date.now() - sentAt) / 1000
    await sleep(4000) // late duplicates (an attempt interrupted after its POST) would arrive now

    // Every process still runs (none crashed); then each must stop cleanly with SIGTERM.
    for (const p of [d.gateway, ...d.workers]) {
      if (!p.alive()) continue
      const exit = await stopProcess(d, p, 'SIGTERM')
      if (exit !== '0') d.crashes.push(`${p.role} SIGTERM exit ${exit}, expected 0`)
    }
    const raw = [d.gateway, ...d.workers].flatMap((p) => p.output().split('\n'))
      .filter((l) => l.trim() && !l.startsWith('leix worker running') && !isJson(l))
    if (raw.length) notes.push(`${raw.length} non-JSON output line(s), e.g. ${raw[0]?.slice(0, 120)}`)

    const accepted = [...traffic.accepted]
    const lost = accepted.filter((id) => !recipient.delivered.has(id))
    const byId = new Map<string, Post[]>()
    for (const p of recipient.posts) if (p.answered === 200) byId.set(p.id, [...(byId.get(p.id) ?? []), p])
    const duplicated = [...byId.values()].filter((ps) => ps.length > 1)
    const duplicatesLater = duplicated.every((ps) => ps.every((p, i) => i === 0 || p.attempt > (ps[i - 1] as Post).attempt))
    const bodiesChanged = recipient.posts.filter((p) => sentBody.get(p.id) !== p.body).length
    // PostgreSQL holds every accepted message and says it was delivered.
    const pool = createPool(d.databaseUrl, { max: 1 })
    const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM messages WHERE id = ANY($1::uuid[]) AND status = 'delivered'", [accepted])
    await pool.end()
    if ((rows[0]?.n ?? 0) !== accepted.length) notes.push(`PostgreSQL says ${rows[0]?.n} of ${accepted.length} delivered`)
    if (traffic.rejected.length) notes.push(`${traffic.rejected.length} rejected (4xx), e.g. ${traffic.rejected[0]}`)
    if (traffic.connectionErrors) notes.push(`${traffic.connectionErrors} client connection errors (resent)`)
    const audit = await verifyAudit(d.databaseUrl, d.env)
    const ok = lost.length === 0 && bodiesChanged === 0 && d.crashes.length === 0 && duplicatesLater && audit.startsWith('ok') &&
      traffic.rejected.length === 0 && accepted.length === messages.length && (rows[0]?.n ?? 0) === accepted.length
    return {
      scenario: s.name, accepted: accepted.length, delivered: accepted.length - lost.length, lost: lost.length,
      duplicates: duplicated.length, duplicatesLater, bodiesChanged, client5xx: traffic.serverErrors,
      drainSeconds, crashes: d.crashes, audit, notes, ok,
    }
  } finally {
    for (const p of [d.gateway, ...d.workers]) if (p.alive()) await stopProcess(d, p, 'SIGKILL')
    await d.redis.destroy()
    await recipient.close()
  }
}

function isJson (line: string): boolean {
  try {
    JSON.parse(line)
    return true
  } catch {
    return false
  }
}

function table (rows: Row[]): string {
  const head = ['scenario', 'accepted', 'delivered', 'lost', 'dup (later attempt)', 'bodies changed', 'client 5xx', 'drain s', 'crashes', 'audit verify', 'result']
  const body = rows.map((r) => [r.scenario, r.accepted, r.delivered, r.lost, `${r.duplicates} (${r.duplicates ? (r.duplicatesLater ? 'yes' : 'NO') : '-'})`,
    r.bodiesChanged, r.client5xx, r.drainSeconds.toFixed(1), r.crashes.length, r.audit, r.ok ? 'PASS' : 'FAIL'].map(String))
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)))
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n')
}

async function main (): Promise<number> {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string', short: 'n' }, clients: { type: 'string', short: 'c' }, scenarios: { type: 'string', short: 's' },
      short: { type: 'boolean', default: false }, list: { type: 'boolean', default: false },
    },
    strict: true,
  })
  if (values.list) {
    for (const s of SCENARIOS) process.stdout.write(`${s.name.padEnd(16)} ${s.what}${SHORT.includes(s.name) ? ' [short]' : ''}\n`)
    return 0
  }
  const messages = Number(values.messages ?? (values.short ? 100 : 2000))
  const clients = Number(values.clients ?? 8)
  const names = values.scenarios ? values.scenarios.split(',') : values.short ? SHORT : SCENARIOS.map((s) => s.name)
  const chosen = names.map((n) => SCENARIOS.find((s) => s.name === n))
  if (!Number.isInteger(messages) || messages < 1 || !Number.isInteger(clients) || clients < 1 || chosen.some((s) => !s)) {
    process.stderr.write(`chaos: bad arguments; scenarios are ${SCENARIOS.map((s) => s.name).join(', ')}\n`)
    return 2
  }
  const dir = mkdtempSync(join(tmpdir(), 'leix-chaos-'))
  // Its own PostgreSQL cluster where it can (the pg-stop scenario needs one), else the local server.
  let cluster: PostgresCluster | undefined
  if (postgresBin()) {
    try {
      cluster = await startPostgresCluster()
    } catch (err) {
      process.stderr.write(`chaos: cannot start a private PostgreSQL cluster (${(err as Error).message.split('\n')[0]}); using 127.0.0.1:5432\n`)
    }
  }
  process.stdout.write(`leix chaos: ${messages} messages, ${clients} clients, PostgreSQL ${cluster ? `private cluster on port ${cluster.port}` : '127.0.0.1:5432'}\n`)
  const rows: Row[] = []
  try {
    for (const s of chosen as Scenario[]) {
      if (s.needsCluster && !cluster) {
        process.stdout.write(`- ${s.name}: skipped (needs its own PostgreSQL cluster)\n`)
        continue
      }
      process.stdout.write(`- ${s.name}: ${s.what} ...\n`)
      const started = Date.now()
      let row: Row
      try {
        row = await runScenario(s, { messages, clients, cluster, dir })
      } catch (err) {
        row = {
          scenario: s.name, accepted: 0, delivered: 0, lost: 0, duplicates: 0, duplicatesLater: true, bodiesChanged: 0, client5xx: 0, drainSeconds: 0,
          crashes: [], audit: '-', notes: [`scenario failed to run: ${(err as Error).message}`], ok: false
        }
      }
      rows.push(row)
      process.stdout.write(`  ${row.ok ? 'PASS' : 'FAIL'} in ${((Date.now() - started) / 1000).toFixed(0)} s${[...row.crashes, ...row.notes].map((n) => `\n  · ${n}`).join('')}\n`)
    }
  } finally {
    cluster?.destroy()
    rmSync(dir, { recursive: true, force: true })
  }
  process.stdout.write(`\n${table(rows)}\n`)
  const failed = rows.filter((r) => !r.ok)
  process.stdout.write(failed.length ? `\nchaos: ${failed.length} scenario(s) failed: ${failed.map((r) => r.scenario).join(', ')}\n` : `\nchaos: all ${rows.length} scenario(s) passed\n`)
  return failed.length ? 1 : 0
}

process.exitCode = await main()
