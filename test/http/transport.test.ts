// Transport security and limits: HTTPS with the configured certificate, rate limits answered as
// problem+json, health probes exempt.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { buildTestApp, createTestDatabase, testConfig, requestMessage, sign } from '../helpers.ts'
import { start } from '../../src/server.ts'
import { ManualClock } from '../../src/config/clock.ts'

t.test('rate limits answer 429 problem+json; health probes are exempt', async (t) => {
  const { app } = await buildTestApp(t, { config: { rateLimitPerMinute: 3 } })
  const codes: number[] = []
  for (let i = 0; i < 4; i++) codes.push((await app.inject('/v1/agencies')).statusCode)
  t.same(codes, [200, 200, 200, 429])
  const limited = await app.inject('/v1/agencies')
  t.equal(limited.json().type, 'urn:leix:problem:rate-limited')
  t.ok(limited.headers['retry-after'], 'says when to retry')
  t.equal((await app.inject('/health/live')).statusCode, 200)
})

t.test('the gateway speaks HTTPS with the configured certificate', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'leix-tls-'))
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' })
  const databaseUrl = await createTestDatabase(t)
  const config = testConfig(databaseUrl, { port: 0, tlsCertPath: cert, tlsKeyPath: key })
  const started = await start(config)
  t.teardown(() => started.stop())
  const port = (started.app!.server.address() as { port: number }).port
  const dispatcher = new Agent({ connect: { ca: readFileSync(cert) } })
  t.teardown(() => dispatcher.close())
  const res = await request(`https://127.0.0.1:${port}/health/live`, { dispatcher })
  t.equal(res.statusCode, 200)
  await res.body.dump()
  const clock = new ManualClock()
  const message = requestMessage(clock)
  const posted = await request(`https://127.0.0.1:${port}/v1/messages`, {
    method: 'POST', dispatcher, headers: { 'content-type': 'application/jose' }, body: await sign(message),
  })
  t.equal(posted.statusCode, 202)
  t.equal(((await posted.body.json()) as { messageId: string }).messageId, message.id)
  await t.rejects(request(`https://127.0.0.1:${port}/health/live`), 'an untrusted certificate is refused by default clients')
})
