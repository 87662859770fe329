// Transport security and limits: HTTPS with the configured certificate, rate limits answered as
// problem+json, health probes exempt.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
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
  const docs = await request(`https://127.0.0.1:${port}/docs/json`, { dispatcher })
  const paths = Object.keys(((await docs.body.json()) as { paths: Record<string, unknown> }).paths)
  for (const path of ['/v1/messages', '/v1/exchanges/{id}', '/v1/inbox', '/v1/inbox/{messageId}/ack', '/v1/messages/{id}/redeliver',
    '/v1/messages/{id}', '/v1/audit/proofs/inclusion', '/v1/audit/export', '/health/ready']) {
    t.ok(paths.includes(path), `OpenAPI documents ${path}`)
  }
})

t.test('mutual TLS binds a client certificate to an agency (S4)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'leix-mtls-'))
  const f = (name: string) => join(dir, name)
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' })
  const ecKey = (name: string) => ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f(name))
  // A CA for agency systems, a client certificate it issues to AL-ASP's system, a rogue one.
  for (const ca of ['ca', 'rogue-ca']) {
    ecKey(`${ca}.key`)
    ssl('req', '-x509', '-new', '-key', f(`${ca}.key`), '-out', f(`${ca}.pem`), '-days', '1', '-subj', `/CN=${ca}`)
  }
  const issue = (name: string, cn: string, ca: string, ext: string[] = []) => {
    ecKey(`${name}.key`)
    ssl('req', '-new', '-key', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`)
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${ca}.pem`), '-CAkey', f(`${ca}.key`), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '1', ...ext)
  }
  writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1\n')
  issue('server', 'localhost', 'ca', ['-extfile', f('san.ext')])
  writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n')
  const clientExt = ['-extfile', f('client.ext')]
  issue('al-client', 'al-asp-system', 'ca', clientExt)
  issue('rogue-client', 'al-asp-system', 'rogue-ca', clientExt)
  issue('server-usage', 'al-asp-system', 'ca', ['-extfile', f('san.ext')]) // no clientAuth usage
  issue('revoked-client', 'al-asp-system', 'ca', clientExt)
  // A CRL from the CA that revokes one client certificate (LEIX_TLS_CRL).
  writeFileSync(f('index.txt'), '')
  writeFileSync(f('crlnumber'), '01\n')
  writeFileSync(f('ca.cnf'), `[ca]\ndefault_ca = d\n[d]\ndatabase = ${f('index.txt')}\ncrlnumber = ${f('crlnumber')}\ndefault_md = sha256\ndefault_crl_days = 1\n`)
  ssl('ca', '-config', f('ca.cnf'), '-keyfile', f('ca.key'), '-cert', f('ca.pem'), '-revoke', f('revoked-client.pem'))
  ssl('ca', '-config', f('ca.cnf'), '-keyfile', f('ca.key'), '-cert', f('ca.pem'), '-gencrl', '-out', f('crl.pem'))
  const directory = JSON.parse(readFileSync(new URL('../../config/directory.sample.json', import.meta.url), 'utf8'))
  directory.agencies.find((a: { id: string }) => a.id === 'AL-ASP').tlsClientSubjects = ['al-asp-system']
  writeFileSync(f('directory.json'), JSON.stringify(directory))

  const databaseUrl = await createTestDatabase(t)
  const started = await start(testConfig(databaseUrl, {
    port: 0, tlsCertPath: f('server.pem'), tlsKeyPath: f('server.key'), tlsClientCaPath: f('ca.pem'), directoryPath: f('directory.json'),
  }))
  t.teardown(() => started.stop())
  const url = `https://127.0.0.1:${(started.app!.server.address() as { port: number }).port}`
  const client = (name?: string) => new Agent({ connect: { ca: readFileSync(f('ca.pem')), ...(name ? { cert: readFileSync(f(`${name}.pem`)), key: readFileSync(f(`${name}.key`)) } : {}) } })
  const clock = new ManualClock()
  const post = async (dispatcher: Agent, from: string, to: string) => {
    const res = await request(`${url}/v1/messages`, { method: 'POST', dispatcher, headers: { 'content-type': 'application/jose' }, body: await sign(requestMessage(clock, { from, to })) })
    return { status: res.statusCode, body: (await res.body.json()) as { code?: string; violations?: { rule: string }[] } }
  }
  const al = client('al-client')
  const rogue = client('rogue-client')
  const anonymous = client()
  t.teardown(() => Promise.all([al.close(), rogue.close(), anonymous.close()]))

  t.equal((await post(al, 'AL-ASP', 'RS-MUP')).status, 202, "AL-ASP's system sends as AL-ASP")
  const spoof = await post(al, 'RS-MUP', 'AL-ASP')
  t.equal(spoof.status, 403, "AL-ASP's certificate cannot carry RS-MUP's messages")
  t.equal(spoof.body.violations?.[0]?.rule, 'S4')
  const untrusted = await post(rogue, 'AL-ASP', 'RS-MUP')
  t.equal(untrusted.status, 401, 'a certificate from another CA is refused')
  t.equal(untrusted.body.code, 'unauthorized')
  t.equal((await post(anonymous, 'RS-MUP', 'AL-ASP')).status, 202, 'without a client certificate the signature alone decides')
  const usage = client('server-usage')
  t.teardown(() => usage.close())
  const noClientAuth = await post(usage, 'AL-ASP', 'RS-MUP')
  t.equal(noClientAuth.status, 401, 'a certificate without the clientAuth usage is refused')
  t.equal(noClientAuth.body.code, 'unauthorized')

  // Mandatory client certificates, with a revocation list.
  const strict = await start(testConfig(await createTestDatabase(t), {
    port: 0, tlsCertPath: f('server.pem'), tlsKeyPath: f('server.key'), tlsClientCaPath: f('ca.pem'), directoryPath: f('directory.json'),
    tlsClientCert: 'required', tlsCrlPath: f('crl.pem'), queuePrefix: `leixtest-strict-${Date.now()}`,
  }))
  t.teardown(() => strict.stop())
  const strictUrl = `https://127.0.0.1:${(strict.app!.server.address() as { port: number }).port}`
  const token = strict.app!.jwt.sign({ sub: 'al-officer', agency: 'AL-ASP', roles: ['officer'] })
  const getAs = async (dispatcher: Agent) => {
    const res = await request(`${strictUrl}/v1/exchanges`, { dispatcher, headers: { authorization: `Bearer ${token}` } })
    return { status: res.statusCode, type: res.headers['content-type'], body: (await res.body.json()) as { code?: string; detail?: string } }
  }
  const noCert = await getAs(anonymous)
  t.equal(noCert.status, 401, 'required: no certificate, no access, even with a valid token')
  t.match(noCert.type, /^application\/problem\+json/)
  t.match(noCert.body.detail, /client certificate is required/)
  t.equal((await getAs(al)).status, 200, 'with its certificate the officer reads')
  const revoked = client('revoked-client')
  t.teardown(() => revoked.close())
  const revokedAnswer = await getAs(revoked)
  t.equal(revokedAnswer.status, 401, 'a revoked certificate is refused (LEIX_TLS_CRL)')
  t.match(revokedAnswer.body.detail, /revoked/i)
  const live = await request(`${strictUrl}/health/live`, { dispatcher: anonymous })
  t.equal(live.statusCode, 200, "the orchestrator's probes need no certificate")
  await live.body.dump()
})
