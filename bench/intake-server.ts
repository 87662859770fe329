// A gateway for the intake benchmark, run as a child process so that the load generator and the
// server do not share an event loop. Mode `leix` is the real app; mode `naive` is the reference
// pipeline: verify one JWS, one INSERT, one queue.add, nothing else.
import Fastify from 'fastify'
import * as jose from 'jose'
import { Queue } from 'bullmq'
import { loadConfig } from '../src/config/config.ts'
import { createRuntime } from '../src/runtime.ts'
import { buildApp } from '../src/app.ts'
import { startServices } from '../src/background.ts'
import { migrate } from '../src/store/migrations.ts'
import { createRedis } from '../src/delivery/queue.ts'

const [mode, databaseUrl, queuePrefix] = process.argv.slice(2) as [string, string, string]
const config = loadConfig({}, {
  databaseUrl, queuePrefix, devKeys: true, logLevel: 'silent', rateLimitPerMinute: 1_000_000, port: 0,
  directoryPath: new URL('../config/directory.sample.json', import.meta.url).pathname,
})
const rt = createRuntime(config)
await migrate(rt.pool)

let close: () => Promise<void>
let port: number
if (mode === 'leix') {
  const services = await startServices(rt, { workers: false, timers: false })
  const app = await buildApp(rt, services)
  await app.listen({ port: 0, host: '127.0.0.1' })
  port = (app.server.address() as { port: number }).port
  close = async () => { await app.close(); await services.stop(); await rt.close() }
} else {
  await rt.pool.query('CREATE TABLE IF NOT EXISTS naive_messages (id uuid PRIMARY KEY, jws text NOT NULL, received_at timestamptz NOT NULL)')
  const jwks = jose.createLocalJWKSet({ keys: [...rt.directory.agencies.values()].flatMap((a) => a.jwks.keys) })
  const redis = createRedis(config.redisUrl)
  const queue = new Queue('naive', { connection: redis, prefix: queuePrefix })
  const app = Fastify({ logger: false })
  app.addContentTypeParser('application/jose', { parseAs: 'string' }, (_r, body, done) => done(null, body))
  app.post('/v1/messages', async (request, reply) => {
    const { payload } = await jose.compactVerify(request.body as string, jwks, { algorithms: ['EdDSA', 'ES256'] })
    const message = JSON.parse(new TextDecoder().decode(payload)) as { id: string }
    await rt.pool.query('INSERT INTO naive_messages (id, jws, received_at) VALUES ($1, $2, now())', [message.id, request.body])
    await queue.add('deliver', { messageId: message.id }, { jobId: message.id, removeOnComplete: true })
    return reply.code(202).send({ messageId: message.id })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  port = (app.server.address() as { port: number }).port
  close = async () => { await app.close(); await queue.close(); redis.disconnect(); await rt.close() }
}
process.stdout.write(`${port}\n`)
process.on('SIGTERM', () => { void close().then(() => process.exit(0)) })
