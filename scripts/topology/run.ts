// `npm run topology`: the multi-machine deployment (README "Deployment beyond one machine") on
// loopback, without Docker: two `leix gateway` and two `leix worker` processes on one PostgreSQL
// database and one redis-server (queue prefix a Cluster hash tag), the gateways behind a small
// round-robin reverse proxy that adds X-Forwarded-For (the gateways trust it: LEIX_TRUST_PROXY).
// Checks that every message sent through the proxy is accepted once (a resend, which reaches the
// other gateway, is answered 200 as a replay), delivered once to a webhook, and that one client's
// rate limit is shared by both gateways. Exit 0 when all holds, 1 otherwise.
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, request, type IncomingMessage, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import * as jose from 'jose'
import pg from 'pg'
import { exampleMessage } from '../../src/cli/example.ts'
import { DATABASE_ROLES, withUser } from '../../src/config/config.ts'
import { signingKeyFromJwk } from '../../src/config/keys.ts'
import { loginOf, setUpDatabase } from '../../src/store/roles.ts'
import { freePort, kill, spawnLeix, startRedisServer, waitRunning, waitUntil, type LeixProcess } from '../chaos/services.ts'

const ROOT = new URL('../../', import.meta.url)
const SENDER = 'AL-ASP'
const RECIPIENT = 'RS-MUP'
const ADMIN_URL = process.env.LEIX_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const { values: args } = parseArgs({ options: { messages: { type: 'string', default: '20' }, 'rate-limit': { type: 'string', default: '60' } } })
const MESSAGES = Number(args.messages)
const RATE_LIMIT = Number(args['rate-limit'])

/** An HTTP answer read whole. */
interface Answer { status: number; body: string; headers: IncomingMessage['headers'] }

/** One request from a given loopback address (a distinct client, as the proxy and the rate limit see it). */
function send (url: string, o: { method?: string; body?: string; headers?: Record<string, string>; from?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: o.method ?? 'GET', headers: o.headers, localAddress: o.from ?? '127.0.0.1' }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }))
    })
    req.on('error', reject)
    req.end(o.body)
  })
}

/** The load balancer: round robin over the gateways, appending the client's address to X-Forwarded-For. */
async function startProxy (upstreams: string[]): Promise<{ url: string; served: number[]; server: Server }> {
  const served = upstreams.map(() => 0)
  let next = 0
  const server = createServer((req, res) => {
    const i = next++ % upstreams.length
    served[i] = (served[i] ?? 0) + 1
    const forwarded = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ')
    const upstream = request(`${upstreams[i]}${req.url ?? '/'}`, {
      method: req.method, headers: { ...req.headers, 'x-forwarded-for': forwarded, 'x-forwarded-proto': 'http' },
    }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', () => { if (!res.headersSent) res.writeHead(502).end(); else res.destroy() })
    req.pipe(upstream)
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${port}`, served, server }
}

/** The recipient's webhook: counts the POSTs of each message it answers 200. */
async function startWebhook (): Promise<{ url: string; delivered: Map<string, number>; server: Server }> {
  const delivered = new Map<string, number>()
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const id = req.headers['leix-message-id']
      if (typeof id === 'string') delivered.set(id, (delivered.get(id) ?? 0) + 1)
      res.writeHead(req.headers['leix-notification-id'] ? 204 : 200).end()
    })
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${port}/hook`, delivered, server }
}

async function signMessages (n: number): Promise<{ id: string; jws: string }[]> {
  const key = signingKeyFromJwk(JSON.parse(readFileSync(new URL(`config/dev/agencies/${SENDER}.DEV-ONLY.private.jwk.json`, ROOT), 'utf8')), SENDER)
  const out = []
  for (let i = 0; i < n; i++) {
    const message = exampleMessage({ from: SENDER, to: RECIPIENT, kind: 'request', officer: 'officer-0042', now: new Date() })
    const jws = await new jose.CompactSign(new TextEncoder().encode(JSON.stringify(message)))
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'leix-message+json' } as jose.CompactJWSHeaderParameters)
      .sign(key.privateKey)
    out.push({ id: String(message.id), jws })
  }
  return out
}

async function main (): Promise<number> {
  const started = performance.now()
  const failures: string[] = []
  const check = (ok: boolean, what: string): void => {
    process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${what}\n`)
    if (!ok) failures.push(what)
  }
  const dir = mkdtempSync(join(tmpdir(), 'leix-topology-'))
  const dbName = `leix_topology_${randomUUID().slice(0, 8)}`
  const databaseUrl = new URL(ADMIN_URL)
  databaseUrl.pathname = `/${dbName}`
  const roleUrls = { owner: withUser(databaseUrl.toString(), DATABASE_ROLES.owner), app: withUser(databaseUrl.toString(), DATABASE_ROLES.app), sealer: withUser(databaseUrl.toString(), DATABASE_ROLES.sealer) }
  const processes: LeixProcess[] = []
  const redis = await startRedisServer()
  const webhook = await startWebhook()
  let proxy: Awaited<ReturnType<typeof startProxy>> | undefined
  try {
    await setUpDatabase(ADMIN_URL, { owner: loginOf(roleUrls.owner), app: loginOf(roleUrls.app), sealer: loginOf(roleUrls.sealer) }, dbName)
    const directory = JSON.parse(readFileSync(new URL('config/directory.sample.json', ROOT), 'utf8')) as { agencies: { id: string; delivery: Record<string, unknown> }[] }
    for (const a of directory.agencies) if (a.id === RECIPIENT) a.delivery = { mode: 'push', webhook: webhook.url }
    const directoryPath = join(dir, 'directory.json')
    writeFileSync(directoryPath, JSON.stringify(directory))
    const env: Record<string, string> = {
      DATABASE_URL: roleUrls.app, LEIX_SEALER_DATABASE_URL: roleUrls.sealer, LEIX_MIGRATE_DATABASE_URL: roleUrls.owner,
      REDIS_URL: redis.url, LEIX_QUEUE_PREFIX: '{leix}', LEIX_DIRECTORY: directoryPath, LEIX_DEV_KEYS: 'true',
      LEIX_ALLOW_LOOPBACK_HTTP: 'true', HOST: '127.0.0.1', LOG_LEVEL: 'warn', LEIX_TRUST_PROXY: '127.0.0.1',
      LEIX_RATE_LIMIT: String(RATE_LIMIT), LEIX_STARTUP_WAIT: '60', LEIX_DELIVERY_BACKOFF_MS: '200', LEIX_RECONCILE_INTERVAL_MS: '1000',
    }
    const gatewayUrls: string[] = []
    const gateway = async (): Promise<LeixProcess> => {
      const port = await freePort()
      const url = `http://127.0.0.1:${port}`
      gatewayUrls.push(url)
      const p = spawnLeix('gateway', { ...env, PORT: String(port) })
      processes.push(p)
      await waitRunning(p, url, 90_000)
      return p
    }
    const worker = async (): Promise<LeixProcess> => {
      const p = spawnLeix('worker', env)
      processes.push(p)
      await waitRunning(p, undefined, 90_000)
      return p
    }
    // The first gateway migrates the fresh database; the others start against it.
    await gateway()
    await Promise.all([gateway(), worker(), worker()])
    proxy = await startProxy(gatewayUrls)
    process.stdout.write(`2 gateways (${gatewayUrls.join(', ')}) behind ${proxy.url}, 2 workers, started in ${((performance.now() - started) / 1000).toFixed(1)} s\n`)

    // Messages through the proxy, then each once more: the resend reaches the other gateway.
    const messages = await signMessages(MESSAGES)
    const post = (jws: string) => send(`${proxy?.url}/v1/messages`, { method: 'POST', body: jws, headers: { 'content-type': 'application/jose' }, from: '127.0.0.2' })
    const first = await Promise.all(messages.map((m) => post(m.jws)))
    check(first.every((a) => a.status === 202), `${MESSAGES} messages accepted (202) through the proxy: ${[...new Set(first.map((a) => a.status))].join(', ')}`)
    const again = await Promise.all(messages.map((m) => post(m.jws)))
    check(again.every((a) => a.status === 200), `each resend (round robin: on either gateway) answered as a replay (200): ${[...new Set(again.map((a) => a.status))].join(', ')}`)
    check(again.every((a, i) => (JSON.parse(a.body) as { messageId?: string }).messageId === messages[i]?.id), 'the replay names the same message')
    check(proxy.served.every((n) => n >= MESSAGES), `both gateways served requests: ${proxy.served.join(' and ')}`)

    const ids = messages.map((m) => m.id)
    await waitUntil('every message delivered', () => ids.every((id) => webhook.delivered.has(id)), 60_000).catch(() => undefined)
    // A reconciler round or two more, so that a second delivery would show.
    await sleep(2500)
    check(ids.every((id) => webhook.delivered.get(id) === 1), `each delivered exactly once to the webhook: ${ids.filter((id) => webhook.delivered.get(id) === 1).length} of ${MESSAGES}`)

    // One client (127.0.0.3) over its limit: the gateways count in Redis together, so it gets
    // RATE_LIMIT answers in all, not RATE_LIMIT from each gateway.
    const served = proxy.served.slice()
    const answers = []
    for (let i = 0; i < RATE_LIMIT + 10; i++) answers.push((await send(`${proxy.url}/.well-known/jwks.json`, { from: '127.0.0.3' })).status)
    const ok = answers.filter((s) => s === 200).length
    check(ok === RATE_LIMIT && answers.filter((s) => s === 429).length === 10, `the rate limit is shared, keyed by the forwarded client address: ${ok} answered of ${RATE_LIMIT + 10} (limit ${RATE_LIMIT} a minute), the rest 429`)
    check(proxy.served.every((n, i) => n - (served[i] ?? 0) >= RATE_LIMIT / 2), 'both gateways took part')

    for (const p of processes) check(p.alive(), `leix ${p.role} ran throughout`)
  } finally {
    const codes = await Promise.all(processes.map((p) => kill(p, 'SIGTERM')))
    if (codes.some((c) => c.code !== 0)) failures.push(`an exit code: ${codes.map((c) => c.code ?? c.signal).join(', ')}`)
    proxy?.server.close()
    webhook.server.closeAllConnections()
    webhook.server.close()
    await redis.destroy()
    const admin = new pg.Client({ connectionString: ADMIN_URL })
    await admin.connect()
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
    await admin.end()
    rmSync(dir, { recursive: true, force: true })
  }
  process.stdout.write(`${failures.length === 0 ? 'topology: all checks passed' : `topology: ${failures.length} check(s) failed`} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`)
  return failures.length === 0 ? 0 : 1
}

process.exitCode = await main()
