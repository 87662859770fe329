// Intake throughput and latency (autocannon, valid signed messages) against the naive reference
// pipeline on the same machine. Each server runs in its own child process and database.
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import autocannon from 'autocannon'
import pg from 'pg'
import * as jose from 'jose'
import { Redis } from 'ioredis'
import { readFileSync } from 'node:fs'
import { signingKeyFromJwk } from '../src/config/keys.ts'
import { exampleMessage } from '../src/cli/example.ts'
import { childEnv } from '../scripts/chaos/services.ts'

const ADMIN = process.env.LEIX_BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const AGENCIES: [string, string][] = [['AL-ASP', 'RS-MUP'], ['RS-MUP', 'ME-UP'], ['ME-UP', 'MK-MVR'], ['MK-MVR', 'AL-ASP'], ['BA-DKPT', 'RS-MUP']]

export interface IntakeFigures {
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  non2xx: number
  total: number
}

async function presign (count: number): Promise<string[]> {
  const keys = new Map(AGENCIES.map(([from]) => [from, signingKeyFromJwk(JSON.parse(readFileSync(new URL(`../config/dev/agencies/${from}.DEV-ONLY.private.jwk.json`, import.meta.url), 'utf8')))]))
  const out: string[] = []
  for (let i = 0; i < count; i++) {
    const [from, to] = AGENCIES[i % AGENCIES.length] as [string, string]
    const key = keys.get(from)!
    const message = exampleMessage({ from, to, kind: 'request', officer: `officer-${i % 50}` })
    out.push(await new jose.CompactSign(new TextEncoder().encode(JSON.stringify(message))).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'leix-message+json' }).sign(key.privateKey))
  }
  return out
}

async function run (mode: 'leix' | 'naive', seconds: number, connections: number): Promise<IntakeFigures> {
  const db = `leix_bench_${mode}_${randomUUID().slice(0, 8)}`
  const admin = new pg.Client({ connectionString: ADMIN })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${db}`)
  const url = new URL(ADMIN)
  url.pathname = `/${db}`
  const prefix = `leixbench-${randomUUID().slice(0, 8)}`
  // LEIX_BENCH_SERVER_FLAGS adds Node flags to the servers (e.g. `--cpu-prof --cpu-prof-dir=prof`).
  const flags = process.env.LEIX_BENCH_SERVER_FLAGS?.split(' ').filter(Boolean) ?? []
  const child = spawn(process.execPath, [...flags, '--import', new URL('../bin/register.js', import.meta.url).pathname, new URL('./intake-server.ts', import.meta.url).pathname, mode, url.toString(), prefix], { env: childEnv(), stdio: ['ignore', 'pipe', 'inherit'] })
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string]
  const port = Number(line)
  // Enough fresh messages for the whole run at a generous rate (createdAt must stay within 5 minutes).
  const bodies = await presign(Math.max(2000, seconds * 3000))
  let next = 0
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/v1/messages`,
    method: 'POST',
    headers: { 'content-type': 'application/jose' },
    connections,
    duration: seconds,
    requests: [{ setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length] }) }],
  })
  child.kill('SIGTERM')
  await once(child, 'exit')
  const redis = new Redis(REDIS)
  const keys = await redis.keys(`${prefix}:*`)
  if (keys.length) await redis.del(...keys)
  redis.disconnect()
  await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`)
  await admin.end()
  if (next > bodies.length) throw new Error('benchmark ran out of distinct messages; results would include resends')
  return {
    requestsPerSecond: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    total: result.requests.total,
  }
}

/** One round: both servers, one after the other, in the order given. */
export interface IntakeRound {
  round: number
  order: string
  leix: IntakeFigures
  naive: IntakeFigures
  ratio: number
}

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}
const ratioOf = (leix: number, naive: number): number => Math.round((leix / naive) * 100) / 100

/**
 * leix against the naive pipeline in `rounds` rounds (default 3), the order alternating (naive
 * first, then leix first, ...) so that a drift of the machine's load during the run weighs on both
 * alike. The ratio reported is the median of the rounds' ratios; one round alone scatters by
 * ±20 % on a small shared VM.
 */
export async function benchIntake (opts: { seconds?: number; connections?: number; rounds?: number } = {}): Promise<{ rounds: IntakeRound[]; ratio: number; leixMedian: number; naiveMedian: number }> {
  const seconds = opts.seconds ?? 10
  const connections = opts.connections ?? 16
  const rounds: IntakeRound[] = []
  for (let i = 0; i < Math.max(1, opts.rounds ?? 3); i++) {
    const naiveFirst = i % 2 === 0
    const first = await run(naiveFirst ? 'naive' : 'leix', seconds, connections)
    const second = await run(naiveFirst ? 'leix' : 'naive', seconds, connections)
    const [naive, leix] = naiveFirst ? [first, second] : [second, first]
    rounds.push({ round: i + 1, order: naiveFirst ? 'naive, leix' : 'leix, naive', leix, naive, ratio: ratioOf(leix.requestsPerSecond, naive.requestsPerSecond) })
  }
  return {
    rounds,
    ratio: median(rounds.map((r) => r.ratio)),
    leixMedian: median(rounds.map((r) => r.leix.requestsPerSecond)),
    naiveMedian: median(rounds.map((r) => r.naive.requestsPerSecond)),
  }
}

/** The naive reference pipeline's closed-loop ceiling alone (the `system` scenario prints it beside leix's sustained rate). */
export async function naiveCeiling (seconds = 10, connections = 16): Promise<IntakeFigures> {
  return await run('naive', seconds, connections)
}
