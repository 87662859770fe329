// The whole system under sustained load (`npm run bench -- system`): the real processes — first
// `leix serve` alone, then one `leix gateway` beside two `leix worker` processes — on a fresh
// database and a private redis-server, with every recipient delivered by push to a webhook on
// loopback. An OPEN-model load generator sends valid signed messages at a fixed rate on a
// schedule (not a closed loop): latency runs from each request's scheduled send time, so a
// server that falls behind shows its queueing instead of slowing the client down (coordinated
// omission). A ramp (doubling, then bisection, with short probes) finds the highest rate that
// holds; that rate is then confirmed for the full duration. Figures, not assertions.
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, createServer, request, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as jose from 'jose'
import pg from 'pg'
import { exampleMessage } from '../src/cli/example.ts'
import { DATABASE_ROLES, withUser } from '../src/config/config.ts'
import { signingKeyFromJwk } from '../src/config/keys.ts'
import { loginOf, setUpDatabase } from '../src/store/roles.ts'
import { freePort, kill, spawnLeix, startRedisServer, waitRunning, type LeixProcess, type RedisServer } from '../scripts/chaos/services.ts'
import { naiveCeiling } from './intake.ts'

const ROOT = new URL('../', import.meta.url)
const ADMIN_URL = process.env.LEIX_BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
/** Sender → recipient pairs: several agencies send, and every recipient is pushed to the webhook. */
const PAIRS: [string, string][] = [['AL-ASP', 'RS-MUP'], ['RS-MUP', 'ME-UP'], ['ME-UP', 'MK-MVR'], ['MK-MVR', 'AL-ASP'], ['BA-DKPT', 'RS-MUP']]
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** What "sustained" means (issue 14). */
export const TARGET = { p99Ms: 100, sealLagSeconds: 2 }
/** LEIX_CHECKPOINT_INTERVAL_MS of the processes under test. */
export const SEAL_INTERVAL_MS = 1000

export type TopologyKind = 'serve' | 'split'

/** The recipients' webhook: the first receipt time of each message (performance.now()). */
interface Webhook { url: string, received: Map<string, number>, server: Server }

async function startWebhook (): Promise<Webhook> {
  const received = new Map<string, number>()
  const server = createServer((req, res) => {
    const at = performance.now()
    req.resume()
    req.on('end', () => {
      const id = req.headers['leix-message-id']
      const notification = req.headers['leix-notification-id'] !== undefined
      if (!notification && typeof id === 'string' && !received.has(id)) received.set(id, at)
      res.writeHead(notification ? 204 : 200).end()
    })
  })
  server.keepAliveTimeout = 30_000
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${port}/hook`, received, server }
}

/** A running deployment on loopback. */
export interface Topology {
  kind: TopologyKind
  intakeUrl: string
  processes: { process: LeixProcess, metricsUrl: string }[]
  webhook: Webhook
  stop(): Promise<void>
}

export async function startTopology (kind: TopologyKind): Promise<Topology> {
  const dir = mkdtempSync(join(tmpdir(), 'leix-bench-system-'))
  const dbName = `leix_bench_system_${randomUUID().slice(0, 8)}`
  const databaseUrl = new URL(ADMIN_URL)
  databaseUrl.pathname = `/${dbName}`
  const roleUrls = { owner: withUser(databaseUrl.toString(), DATABASE_ROLES.owner), app: withUser(databaseUrl.toString(), DATABASE_ROLES.app), sealer: withUser(databaseUrl.toString(), DATABASE_ROLES.sealer) }
  const processes: Topology['processes'] = []
  let redis: RedisServer | undefined
  const webhook = await startWebhook()
  const stop = async (): Promise<void> => {
    await Promise.all(processes.map((p) => kill(p.process, 'SIGTERM')))
    webhook.server.closeAllConnections()
    webhook.server.close()
    await redis?.destroy()
    const admin = new pg.Client({ connectionString: ADMIN_URL })
    await admin.connect()
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
    await admin.end()
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    redis = await startRedisServer()
    await setUpDatabase(ADMIN_URL, { owner: loginOf(roleUrls.owner), app: loginOf(roleUrls.app), sealer: loginOf(roleUrls.sealer) }, dbName)
    // A test directory: the sample's agencies, each recipient delivered by push to the webhook.
    const directory = JSON.parse(readFileSync(new URL('config/directory.sample.json', ROOT), 'utf8')) as { agencies: { id: string, delivery: Record<string, unknown> }[] }
    for (const a of directory.agencies) a.delivery = { mode: 'push', webhook: webhook.url }
    const directoryPath = join(dir, 'directory.json')
    writeFileSync(directoryPath, JSON.stringify(directory))
    const env: Record<string, string> = {
      DATABASE_URL: roleUrls.app, LEIX_SEALER_DATABASE_URL: roleUrls.sealer, LEIX_MIGRATE_DATABASE_URL: roleUrls.owner,
      REDIS_URL: redis.url, LEIX_QUEUE_PREFIX: '{leix}', LEIX_DIRECTORY: directoryPath, LEIX_DEV_KEYS: 'true',
      LEIX_ALLOW_LOOPBACK_HTTP: 'true', HOST: '127.0.0.1', LOG_LEVEL: 'warn', LEIX_RATE_LIMIT: '1000000',
      LEIX_STARTUP_WAIT: '60', LEIX_ORIGIN: 'leix.bench',
      // Messages are signed just before each probe; a long probe must not age them out.
      LEIX_MAX_AGE_SECONDS: '3600',
      // Sealing rounds every second (the default is every 2 s): with the default the 2 s bound on
      // the seal lag would be the timer's, not how far sealing falls behind under load.
      LEIX_CHECKPOINT_INTERVAL_MS: String(SEAL_INTERVAL_MS),
    }
    const launch = async (role: 'serve' | 'gateway' | 'worker'): Promise<string | undefined> => {
      const metricsPort = await freePort()
      const port = role === 'worker' ? undefined : await freePort()
      const p = spawnLeix(role, { ...env, LEIX_METRICS_PORT: String(metricsPort), ...(port ? { PORT: String(port) } : {}) })
      processes.push({ process: p, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` })
      const url = port ? `http://127.0.0.1:${port}` : undefined
      await waitRunning(p, url, 120_000)
      return url
    }
    // The first process migrates the fresh database; the workers start against it.
    const intakeUrl = await launch(kind === 'serve' ? 'serve' : 'gateway') as string
    if (kind === 'split') await Promise.all([launch('worker'), launch('worker')])
    return { kind, intakeUrl, processes, webhook, stop }
  } catch (err) {
    await stop().catch(() => undefined)
    throw err
  }
}

/** Signed messages (JWS compact) from several agencies, with their ids. */
export async function signMessages (count: number): Promise<{ id: string, jws: string }[]> {
  const keys = new Map(PAIRS.map(([from]) => [from, signingKeyFromJwk(JSON.parse(readFileSync(new URL(`config/dev/agencies/${from}.DEV-ONLY.private.jwk.json`, ROOT), 'utf8')), from)]))
  const now = new Date()
  const out: { id: string, jws: string }[] = []
  for (let i = 0; i < count; i++) {
    const [from, to] = PAIRS[i % PAIRS.length] as [string, string]
    const key = keys.get(from)!
    const message = exampleMessage({ from, to, kind: 'request', officer: `officer-${i % 50}`, now })
    const jws = await new jose.CompactSign(new TextEncoder().encode(JSON.stringify(message)))
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'leix-message+json' } as jose.CompactJWSHeaderParameters)
      .sign(key.privateKey)
    out.push({ id: String(message.id), jws })
  }
  return out
}

/** The value of an unlabelled metric in a Prometheus text exposition, or undefined. */
export function metricValue (text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+|NaN)$`, 'm').exec(text)
  return m ? Number(m[1]) : undefined
}

export async function scrape (url: string): Promise<string> {
  try {
    return await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text()
  } catch {
    return ''
  }
}

function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return Math.round((sorted[i] as number) * 10) / 10
}

export interface ProbeFigures {
  rate: number
  seconds: number
  sent: number
  accepted: number
  errors: number
  intakeP50Ms: number
  intakeP99Ms: number
  deliveredP50Ms: number
  deliveredP99Ms: number
  /** Highest leix_audit_seal_lag_seconds seen during the probe. */
  sealLagMaxS: number
  /** accepted − delivered at the start and the end of the last third of the window. */
  backlogLastThird: [number, number]
  /** A verdict per criterion, for the printout. */
  sustained: boolean
  why: string
}

/** Called once a second during a probe (e.g. to sample memory). */
export type Sampler = (elapsedS: number) => Promise<void> | void

/**
 * Offers `rate` messages a second for `seconds`, open model: request i is due at t0 + i/rate and
 * is sent then whatever the earlier ones are doing; its latency runs from that due time.
 */
export async function offer (topo: Topology, rate: number, seconds: number, sampler?: Sampler): Promise<ProbeFigures> {
  const total = Math.round(rate * seconds)
  const messages = await signMessages(total)
  const agent = new Agent({ keepAlive: true, maxSockets: 1024 })
  const target = new URL(`${topo.intakeUrl}/v1/messages`)
  const latencies: number[] = []
  const acceptedAt = new Map<string, number>()
  let errors = 0
  let settled = 0
  const firstError: string[] = []
  const send = (i: number, due: number): void => {
    const m = messages[i] as { id: string, jws: string }
    const req = request(target, { method: 'POST', agent, headers: { 'content-type': 'application/jose' } }, (res) => {
      res.resume()
      res.on('end', () => {
        const now = performance.now()
        settled++
        latencies.push(now - due)
        if (res.statusCode === 202) acceptedAt.set(m.id, now)
        else {
          errors++
          if (firstError.length === 0) firstError.push(`HTTP ${res.statusCode ?? '?'}`)
        }
      })
    })
    req.on('error', (err) => {
      settled++
      errors++
      if (firstError.length === 0) firstError.push(err.message)
    })
    req.end(m.jws)
  }
  // Once a second, beside the schedule: the delivery backlog, the seal lag, and the caller's sampler.
  const backlog: number[] = []
  let sealLagMax = 0
  const lagUrl = topo.processes[0]?.metricsUrl as string
  let second = 0
  const sampling = setInterval(() => {
    second++
    let delivered = 0
    for (const id of acceptedAt.keys()) if (topo.webhook.received.has(id)) delivered++
    backlog.push(acceptedAt.size - delivered)
    void scrape(lagUrl).then((text) => { sealLagMax = Math.max(sealLagMax, metricValue(text, 'leix_audit_seal_lag_seconds') ?? 0) })
    void sampler?.(second)
  }, 1000)
  const interval = 1000 / rate
  const t0 = performance.now() + 50
  let next = 0
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now()
      while (next < total && t0 + next * interval <= now) {
        send(next, t0 + next * interval)
        next++
      }
      if (next < total) setTimeout(tick, 1)
      else resolve()
    }
    tick()
  })
  // The window ends with the schedule: samples after it would stretch the backlog's last third.
  clearInterval(sampling)
  // The last answers (bounded: a request not answered in 30 s counts as an error, not a hang).
  const deadline = performance.now() + 30_000
  const unanswered = () => settled < total && performance.now() < deadline
  while (unanswered()) await sleep(20)
  errors += total - settled
  agent.destroy()

  latencies.sort((a, b) => a - b)
  const toDelivery: number[] = []
  for (const [id, at] of acceptedAt) {
    const got = topo.webhook.received.get(id)
    if (got !== undefined) toDelivery.push(got - at)
  }
  toDelivery.sort((a, b) => a - b)
  // Delivery keeps up when the backlog did not grow over the last third of the window by more
  // than half a second of offered load (or 20 messages): it stays flat instead of climbing.
  const third = backlog.slice(Math.floor((backlog.length * 2) / 3))
  const flat: [number, number] = [third[0] ?? 0, third.at(-1) ?? 0]
  const figures = {
    rate, seconds, sent: total, accepted: acceptedAt.size, errors,
    intakeP50Ms: percentile(latencies, 50), intakeP99Ms: percentile(latencies, 99),
    deliveredP50Ms: percentile(toDelivery, 50), deliveredP99Ms: percentile(toDelivery, 99),
    sealLagMaxS: Math.round(sealLagMax * 100) / 100, backlogLastThird: flat,
  }
  const failed: string[] = []
  if (errors > 0) failed.push(`${errors} errors (${firstError[0] ?? ''})`)
  if (!(figures.intakeP99Ms <= TARGET.p99Ms)) failed.push(`intake p99 ${figures.intakeP99Ms} ms`)
  if (figures.sealLagMaxS > TARGET.sealLagSeconds) failed.push(`seal lag ${figures.sealLagMaxS} s`)
  if (flat[1] - flat[0] > Math.max(20, rate / 2)) failed.push(`delivery backlog grew ${flat[0]} -> ${flat[1]}`)
  return { ...figures, sustained: failed.length === 0, why: failed.join('; ') || 'sustained' }
}

/** Waits (up to `timeoutMs`) until every accepted message of the last probe reached the webhook. */
async function drain (topo: Topology, accepted: number, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (topo.webhook.received.size < accepted && Date.now() < end) await sleep(200)
}

export interface SystemOptions {
  /** Seconds the found rate is confirmed for (default 60). */
  duration?: number
  /** Seconds of each search probe (default: a quarter of the duration, at least 5, at most 15). */
  probe?: number
  /** The rate the ramp starts at (default 50 a second). */
  start?: number
  topologies?: TopologyKind[]
  log?: (line: string) => void
}

export interface SystemFigures {
  topology: string
  sustainedRate: number
  intakeP50Ms: number
  intakeP99Ms: number
  deliveredP50Ms: number
  deliveredP99Ms: number
  sealLagMaxS: number
  confirmedFor: string
}

/** Coarse doubling, then bisection with short probes, then the full-length confirmation. */
export async function findSustainedRate (topo: Topology, o: Required<Pick<SystemOptions, 'duration' | 'probe' | 'start'>>, log: (line: string) => void): Promise<{ rate: number, figures: ProbeFigures | undefined }> {
  let delivered = 0
  const probe = async (rate: number, seconds: number, warmUp = false): Promise<ProbeFigures> => {
    const f = await offer(topo, rate, seconds)
    delivered += f.accepted
    log(`  ${topo.kind}${warmUp ? ' warm-up (not judged)' : ''} ${rate}/s for ${seconds} s: p50 ${f.intakeP50Ms} ms, p99 ${f.intakeP99Ms} ms, delivered p99 ${f.deliveredP99Ms} ms, seal lag ≤ ${f.sealLagMaxS} s, backlog ${f.backlogLastThird.join(' -> ')}: ${f.why}`)
    await drain(topo, delivered)
    delivered = topo.webhook.received.size
    return f
  }
  // A warm-up (not judged): JIT compilation and the first connections would weigh on the first probe.
  await probe(Math.max(1, Math.round(o.start / 2)), Math.min(5, o.probe), true)
  let good = 0
  let bad: number | undefined
  for (let rate = o.start; bad === undefined; rate *= 2) {
    if ((await probe(rate, o.probe)).sustained) good = rate
    else bad = rate
  }
  while (bad - good > Math.max(10, good * 0.1)) {
    const mid = Math.round((good + bad) / 2)
    if ((await probe(mid, o.probe)).sustained) good = mid
    else bad = mid
  }
  // Confirmed for the full duration, stepping down 10 % (at most three times) if it does not hold.
  for (let attempt = 0; attempt < 4 && good > 0; attempt++) {
    const f = await probe(good, o.duration)
    if (f.sustained) return { rate: good, figures: f }
    good = Math.floor(good * 0.9)
  }
  return { rate: 0, figures: undefined }
}

export async function benchSystem (opts: SystemOptions = {}): Promise<{ rows: SystemFigures[], naiveCeiling: number }> {
  const duration = opts.duration ?? 60
  const probe = opts.probe ?? Math.min(15, Math.max(5, Math.round(duration / 4)))
  const start = opts.start ?? 50
  const log = opts.log ?? ((line: string) => { process.stdout.write(`${line}\n`) })
  const rows: SystemFigures[] = []
  for (const kind of opts.topologies ?? ['serve', 'split']) {
    const started = performance.now()
    const topo = await startTopology(kind)
    log(`${kind === 'serve' ? 'leix serve (one process)' : 'leix gateway + 2 leix worker'} started in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    try {
      const { rate, figures: f } = await findSustainedRate(topo, { duration, probe, start }, log)
      rows.push({
        topology: kind === 'serve' ? 'serve' : 'gateway + 2 workers',
        sustainedRate: rate,
        intakeP50Ms: f?.intakeP50Ms ?? NaN,
        intakeP99Ms: f?.intakeP99Ms ?? NaN,
        deliveredP50Ms: f?.deliveredP50Ms ?? NaN,
        deliveredP99Ms: f?.deliveredP99Ms ?? NaN,
        sealLagMaxS: f?.sealLagMaxS ?? NaN,
        confirmedFor: f ? `${duration} s` : 'no rate held',
      })
    } finally {
      await topo.stop()
    }
  }
  const naive = await naiveCeiling(Math.min(10, duration))
  return { rows, naiveCeiling: naive.requestsPerSecond }
}
