// One `leix serve` process through a Redis outage and then SIGTERM under a keep-alive client:
// errors are logged as pino JSON once per outage (never raw traces), deliveries resume once Redis
// is back, and shutdown answers the request in flight with Connection: close, refuses a late one
// with a problem+json 503, closes idle connections at once and exits 0.
import { randomUUID } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import t from 'tap'
import { systemClock } from '../../src/config/clock.ts'
import { freePort, kill, spawnLeix, startRedisServer, waitRunning, waitUntil } from '../../scripts/chaos/services.ts'
import { createTestDatabase, databaseUrlAs, requestMessage, sign } from '../helpers.ts'
import { startRecipient, writeDirectory } from '../delivery/helpers.ts'

const recipient = await startRecipient(t)
const directoryPath = writeDirectory(t, { 'RS-MUP': { webhook: recipient.url } })
const received = () => new Set(recipient.messages.map((r) => String(r.headers['leix-message-id'])))
const redis = await startRedisServer()
t.teardown(() => redis.destroy())
const databaseUrl = await createTestDatabase(t)
const port = await freePort()
const url = `http://127.0.0.1:${port}`
const serve = spawnLeix('serve', {
  DATABASE_URL: databaseUrl, LEIX_MIGRATE_DATABASE_URL: databaseUrlAs(databaseUrl, 'owner'), REDIS_URL: redis.url, LEIX_QUEUE_PREFIX: `leixtest-${randomUUID().slice(0, 8)}`, LEIX_DIRECTORY: directoryPath,
  LEIX_DEV_KEYS: 'true', LEIX_ALLOW_LOOPBACK_HTTP: 'true', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', LEIX_METRICS_PORT: '0',
  LEIX_CHECKPOINT_INTERVAL_MS: '200', LEIX_RECONCILE_INTERVAL_MS: '500', LEIX_DELIVERY_BACKOFF_MS: '50',
})
t.teardown(() => kill(serve))
await waitRunning(serve, url, 90_000)

async function signed (): Promise<{ id: string; jws: string }> {
  const message = requestMessage(systemClock)
  return { id: message.id, jws: await sign(message) }
}

async function post (): Promise<{ id: string; status: number }> {
  const { id, jws } = await signed()
  const res = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/jose' }, body: jws })
  return { id, status: res.status }
}

t.test('Redis killed and restarted: logged once as JSON, nothing lost, the process lives on', async (t) => {
  const before = await post()
  t.equal(before.status, 202)
  await waitUntil('the first delivery', () => received().has(before.id))
  await redis.kill9()
  await waitUntil('the outage to be logged', () => /redis unreachable/.test(serve.output()))
  await new Promise((resolve) => setTimeout(resolve, 3000)) // reconnection attempts meanwhile
  const during = await post()
  t.equal(during.status, 202, 'intake still accepts: PostgreSQL holds the message, the reconciler queues it later')
  await redis.restart()
  await waitUntil('the message accepted during the outage delivered', () => received().has(during.id), 60_000)
  await waitUntil('the recovery logged', () => /redis reachable again/.test(serve.output()))
  t.ok(serve.alive(), 'the process is still running')
  const lines = serve.output().split('\n').filter((l) => l.trim())
  const raw = lines.filter((l) => { try { JSON.parse(l); return false } catch { return true } })
  t.same(raw, [], 'every line is JSON (no raw traces from BullMQ or ioredis)')
  const down = lines.map((l) => JSON.parse(l) as { msg?: string; component?: string }).filter((l) => /redis unreachable/.test(l.msg ?? ''))
  t.ok(down.length > 0 && down.every((l) => l.component), 'each outage line names its component')
  t.equal(new Set(down.map((l) => l.component)).size, down.length, 'once per component for the one outage')
})

/** Reads everything a raw socket receives until the server closes it. */
function readAll (socket: Socket): Promise<string> {
  let text = ''
  socket.on('data', (chunk: Buffer) => { text += chunk.toString() })
  return new Promise((resolve) => socket.once('close', () => resolve(text)))
}

async function open (): Promise<Socket> {
  const socket = connect(port, '127.0.0.1')
  await new Promise((resolve) => socket.once('connect', resolve))
  return socket
}

t.test('SIGTERM with a keep-alive client: in-flight answered, late refused as problem+json, idle closed, exit 0', async (t) => {
  const { jws } = await signed()
  const head = `POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\nContent-Type: application/jose\r\nContent-Length: ${Buffer.byteLength(jws)}\r\n`

  // An idle keep-alive connection: one request answered, the connection left open.
  const idle = await open()
  const idleText = readAll(idle)
  idle.write('GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n')
  await waitUntil('the idle connection answered once', () => idle.bytesRead > 0)
  // In flight: headers complete (routed), half the body sent.
  const inFlight = await open()
  const inFlightText = readAll(inFlight)
  inFlight.write(head + '\r\n' + jws.slice(0, 100))
  // Late: the request has begun (the connection is not idle) but its headers arrive after SIGTERM.
  const late = await open()
  const lateText = readAll(late)
  late.write(head)
  await new Promise((resolve) => setTimeout(resolve, 300)) // let the server read what was sent

  serve.child.kill('SIGTERM')
  await waitUntil('the idle connection closed by the server', () => idle.closed, 10_000)
  t.match(await idleText, /^HTTP\/1\.1 200/, 'the idle connection had its answer and was then closed')
  await new Promise((resolve) => setTimeout(resolve, 200))
  late.write('\r\n' + jws)
  inFlight.write(jws.slice(100))

  const answered = await inFlightText
  t.match(answered, /^HTTP\/1\.1 202/, 'the request in flight is answered')
  t.match(answered, /\r\nconnection: close\r\n/i, 'with Connection: close')
  const refused = await lateText
  t.match(refused, /^HTTP\/1\.1 503/, 'the late request is refused')
  t.match(refused, /\r\ncontent-type: application\/problem\+json/i, 'as problem+json')
  t.match(refused, /\r\nretry-after: \d+\r\n/i, 'with Retry-After')
  t.match(refused, /"code":"unavailable"/)
  const exit = await serve.exited
  t.same(exit, { code: 0, signal: null }, 'exit 0 once in-flight work is done (the grace timer would exit 1)')
})
