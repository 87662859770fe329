// Trust at the edges, one class each: a held message does not exist for its recipient (D3-D5);
// a bystander learns nothing from a reply; bearer tokens need iss, aud, iat and exp within a
// lifetime, from a rotating key set; development keys are refused outside development mode;
// rate limits come first, per address and per agency, shared through Redis, and refusals of
// unidentified senders are aggregated; plaintext only on loopback; logs keep no secrets.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import * as jose from 'jose'
import { loadConfig } from '../../src/config/config.ts'
import { generateKeyPair } from '../../src/config/keys.ts'
import { createRuntime } from '../../src/runtime.ts'
import { buildTestApp, createTestDatabase, requestMessage, sign, submit, testConfig, tokenFor, ROOT } from '../helpers.ts'
import { startGateway } from './full-app.ts'

const sameProblem = (a: Record<string, unknown>, b: Record<string, unknown>, ids: string[][]) => {
  const norm = (p: Record<string, unknown>, i: number) => {
    let text = JSON.stringify({ ...p, instance: undefined })
    for (const pair of ids) text = text.split(pair[i] as string).join('<id>')
    return JSON.parse(text)
  }
  return [norm(a, 0), norm(b, 1)] as const
}

t.test('a held message does not exist for its recipient, and the hold reason never reaches it', async (t) => {
  const g = await startGateway(t)
  const minor = { dataSubjects: [{ ref: 'SUBJ-M1', category: 'victim', minor: true }] }
  const held = await g.send('AL-ASP', 'RS-MUP', minor)
  t.equal(held.status, 'held')
  const rejectedLater = await g.send('AL-ASP', 'RS-MUP', minor)
  await g.sealed()
  const rsOfficer = g.token('RS-MUP', ['officer'])
  const rsAll = g.token('RS-MUP', ['officer', 'system', 'dpo', 'auditor', 'admin'])
  const alDpo = g.token('AL-ASP', ['dpo'])
  const justified = { 'leix-justification': 'Checking what the recipient can see' }
  const { pool } = g.rt
  const seqsOf = async (exchangeId: string) => (await pool.query<{ seq: string; type: string }>('SELECT seq, type FROM audit_events WHERE exchange_id = $1 ORDER BY seq', [exchangeId])).rows

  const invisible = async (t: Test, m: { exchangeId: string; messageId: string }, when: string) => {
    const unknown = randomUUID()
    const pairs = [[m.exchangeId, unknown]]
    const ex = await g.get(`/v1/exchanges/${m.exchangeId}`, rsAll)
    const missing = await g.get(`/v1/exchanges/${unknown}`, rsAll)
    t.equal(ex.statusCode, 404, `${when}: the exchange is 404`)
    t.same(...sameProblem(ex.json(), missing.json(), pairs), `${when}: the same 404 as a missing exchange`)
    t.notOk((await g.get('/v1/exchanges', rsAll)).body.includes(m.exchangeId), `${when}: not listed`)
    const body = await g.get(`/v1/messages/${m.messageId}`, rsAll, justified)
    t.same(...sameProblem(body.json(), (await g.get(`/v1/messages/${unknown}`, rsAll, justified)).json(), [[m.messageId, unknown]]), `${when}: the body is a 404 like a missing one`)
    t.notOk((await g.get('/v1/inbox', rsAll)).body.includes(m.messageId), `${when}: not in the inbox`)
    t.equal((await g.inject({ method: 'POST', url: `/v1/inbox/${m.messageId}/ack`, headers: { authorization: `Bearer ${rsAll}` } })).statusCode, 404, `${when}: no ack`)
    t.equal((await g.inject({ method: 'POST', url: `/v1/messages/${m.messageId}/redeliver`, headers: { authorization: `Bearer ${rsAll}`, 'content-type': 'application/json' }, payload: '{}' })).statusCode, 404, `${when}: no redelivery`)
    await g.sealed()
    for (const { seq } of await seqsOf(m.exchangeId)) {
      t.equal((await g.get(`/v1/audit/events/${seq}`, rsAll)).statusCode, 404, `${when}: event ${seq} is 404`)
      t.equal((await g.get(`/v1/audit/proofs/inclusion?seq=${seq}`, rsAll)).statusCode, 404, `${when}: no proof of ${seq}`)
    }
    t.same((await g.get(`/v1/audit/events?exchange=${m.exchangeId}`, rsAll)).json().items, [], `${when}: the recipient's auditor finds nothing`)
    const reply = requestMessage(g.clock, { from: 'RS-MUP', to: 'AL-ASP' }, { kind: 'response', inReplyTo: m.messageId })
    const res = await submit(g.app, await sign(reply))
    const unknownReply = await submit(g.app, await sign(requestMessage(g.clock, { from: 'RS-MUP', to: 'AL-ASP' }, { kind: 'response', inReplyTo: randomUUID() })))
    t.equal(res.statusCode, unknownReply.statusCode, `${when}: a reply to it answers like a reply to an unknown message (${res.body.slice(0, 200)})`)
    t.equal(res.json().code, unknownReply.json().code)
  }

  await invisible(t, held, 'while held')
  // The sender's DPO rejects one and releases the other.
  t.equal((await g.inject({ method: 'POST', url: `/v1/messages/${rejectedLater.messageId}/review`, headers: { authorization: `Bearer ${alDpo}` }, payload: { decision: 'reject', justification: 'not to be disclosed' } })).statusCode, 200)
  t.equal((await g.inject({ method: 'POST', url: `/v1/messages/${held.messageId}/review`, headers: { authorization: `Bearer ${alDpo}` }, payload: { decision: 'release', justification: 'safe to disclose' } })).statusCode, 200)
  await g.sealed()
  await invisible(t, rejectedLater, 'after rejection')

  const released = await g.get(`/v1/exchanges/${held.exchangeId}`, rsOfficer)
  t.equal(released.statusCode, 200, 'after release the recipient sees the exchange')
  const view = released.json() as { timeline: { event: string; seq: number }[] }
  const seen = released.json() as { timeline: { event: string; reason?: string; details?: Record<string, unknown> }[]; messages: { status: string }[] }
  t.notOk(seen.timeline.some((e) => ['message.held', 'review.decided', 'message.received', 'exchange.opened'].includes(e.event)), 'no hold events in its timeline')
  t.notOk(seen.timeline.some((e) => /D[345]/.test(e.reason ?? '') || 'released' in (e.details ?? {})), 'never why it was held, nor that it was')
  t.notMatch(released.body, /"reason":"D|"holds"|"minor"/, 'nowhere in the answer')
  t.ok(view.timeline.some((e) => e.event === 'message.accepted'), 'from the release on, events list both parties')
  for (const { seq, type } of await seqsOf(held.exchangeId)) {
    const res = await g.get(`/v1/audit/events/${seq}`, rsOfficer)
    if (['message.received', 'message.held', 'review.decided', 'exchange.opened'].includes(type)) t.equal(res.statusCode, 404, `${type} stays hidden from the recipient`)
    else if (type !== 'access.denied') t.equal(res.statusCode, 200, `${type} is the recipient's too`)
  }
  const alSees = (await g.get(`/v1/exchanges/${held.exchangeId}`, g.token('AL-ASP', ['officer']))).json() as { timeline: { event: string }[] }
  t.ok(alSees.timeline.some((e) => e.event === 'message.held') && alSees.timeline.some((e) => e.event === 'review.decided'), 'the sender sees the whole story')
})

t.test('bearer tokens: iss, aud, iat and exp required, lifetime capped, keys from a rotating JWKS (file or URL)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'leix-jwks-'))
  const dev = JSON.parse(readFileSync(new URL('config/dev/token-issuer.DEV-ONLY.private.jwk.json', ROOT), 'utf8')) as jose.JWK
  const next = await generateKeyPair('issuer-2026-2')
  const retired = await generateKeyPair('issuer-retired')
  const strip = (k: jose.JWK) => { const { d: _d, ...pub } = k; return pub }
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [strip(dev), next.publicJwk] }))
  const { app } = await buildTestApp(t, { config: { tokenJwks: join(dir, 'jwks.json'), tokenAudience: 'https://leix.test', tokenMaxLifetimeSeconds: 600 } })
  const now = Math.floor(Date.now() / 1000)
  const mint = async (key: jose.JWK, claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
    new jose.SignJWT({ sub: 'al-officer', agency: 'AL-ASP', roles: ['officer'], iss: 'leix', aud: 'https://leix.test', iat: now, exp: now + 300, ...claims })
      .setProtectedHeader({ alg: 'EdDSA', kid: key.kid as string, ...header }).sign(await jose.importJWK(key, 'EdDSA'))
  const status = async (token: string) => (await app.inject({ url: '/v1/exchanges', headers: { authorization: `Bearer ${token}` } })).statusCode
  t.equal(await status(await mint(dev, {})), 200, 'a complete token from the first key')
  t.equal(await status(await mint(next.privateJwk, {})), 200, 'and from the next key of the set (rotation)')
  t.equal(await status(app.jwt.sign({ sub: 'x', agency: 'AL-ASP', roles: ['officer'] })), 200, 'tokens minted by leix carry aud')
  const refusals: [string, Record<string, unknown>, jose.JWK?][] = [
    ['no exp', { exp: undefined }], ['no iss', { iss: undefined }], ['another iss', { iss: 'someone-else' }],
    ['no aud', { aud: undefined }], ['another aud', { aud: 'https://other.example' }], ['no iat', { iat: undefined }],
    ['expired', { iat: now - 500, exp: now - 100 }], ['not yet valid (nbf)', { nbf: now + 3600 }],
    ['longer than the maximum lifetime', { exp: now + 3600 }], ['issued in the future', { iat: now + 3600, exp: now + 3700 }],
    ['no sub', { sub: undefined }], ['an unknown agency', { agency: 'XX-NONE' }], ['an unknown role', { roles: ['root'] }],
    ['supervisor not granted', { roles: ['supervisor'] }], ['a key outside the set', {}, retired.privateJwk],
  ]
  for (const [name, claims, key] of refusals) {
    const res = await app.inject({ url: '/v1/exchanges', headers: { authorization: `Bearer ${await mint(key ?? dev, claims)}` } })
    t.equal(res.statusCode, 401, name)
    t.equal(res.json().code, 'unauthorized')
  }
  t.equal(await status('not.a.token'), 401, 'garbage')
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'x', agency: 'AL-ASP', roles: ['officer'], iss: 'leix', aud: 'https://leix.test', iat: now, exp: now + 60 })).toString('base64url')}.`
  t.equal(await status(none), 401, 'alg none')

  // A JWKS served by the issuer: fetched by URL, the new key picked up when it appears.
  const published = { keys: [strip(dev)] }
  const issuer = createServer((_req, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(published)) })
  issuer.listen(0, '127.0.0.1')
  await once(issuer, 'listening')
  t.teardown(() => issuer.close())
  const remote = await buildTestApp(t, { config: { tokenJwks: `http://127.0.0.1:${(issuer.address() as { port: number }).port}/jwks.json`, tokenAudience: 'https://leix.test' } })
  const remoteStatus = async (token: string) => (await remote.app.inject({ url: '/v1/exchanges', headers: { authorization: `Bearer ${token}` } })).statusCode
  t.equal(await remoteStatus(await mint(dev, {})), 200, 'a key of the remote JWKS')
  t.equal(await remoteStatus(await mint(retired.privateJwk, {})), 401, 'a key it does not publish')
})

t.test('development keys are refused outside development mode, named; a production set-up starts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'leix-prod-'))
  const broker = await generateKeyPair('broker-prod-1')
  const issuer = await generateKeyPair('issuer-prod-1')
  writeFileSync(join(dir, 'broker.jwk.json'), JSON.stringify(broker.privateJwk))
  writeFileSync(join(dir, 'issuer.jwks.json'), JSON.stringify({ keys: [issuer.publicJwk] }))
  const sample = JSON.parse(readFileSync(new URL('config/directory.sample.json', ROOT), 'utf8'))
  const databaseUrl = await createTestDatabase(t)
  const production = (directory: unknown, extra: Record<string, unknown> = {}) => {
    const path = join(dir, `${randomUUID()}.json`)
    writeFileSync(path, JSON.stringify(directory))
    return testConfig(databaseUrl, { devKeys: false, tokenAudience: 'https://leix.example', directoryPath: path, brokerKeyPath: join(dir, 'broker.jwk.json'), tokenJwks: join(dir, 'issuer.jwks.json'), ...extra })
  }
  t.throws(() => createRuntime(production(sample)), { name: 'ConfigError', message: /agency AL-ASP key AL-ASP-dev-1/ }, 'the sample directory, naming its keys')
  const unmarked = structuredClone(sample)
  for (const a of unmarked.agencies) for (const k of a.jwks.keys) delete k.dev
  t.throws(() => createRuntime(production(unmarked)), { message: /AL-ASP-dev-1/ }, 'unmarked, a committed key is still recognised')
  const own = structuredClone(sample)
  for (const a of own.agencies) a.jwks.keys = [(await generateKeyPair(`${a.id}-prod-1`)).publicJwk]
  t.throws(() => createRuntime(production(own, { brokerKeyPath: new URL('config/dev/broker.DEV-ONLY.private.jwk.json', ROOT).pathname })), { message: /LEIX_BROKER_KEY/ }, 'the development broker key')
  t.throws(() => createRuntime(production(own, { tokenJwks: undefined, tokenPublicKeyPath: new URL('config/dev/token-issuer.DEV-ONLY.public.jwk.json', ROOT).pathname })), { message: /token issuer key/ }, 'the development token key')
  const rt = createRuntime(production(own))
  t.ok(rt.directory.agencies.get('AL-ASP'), 'production keys only: starts')
  await rt.close()
  t.notOk(readFileSync(new URL('Dockerfile', ROOT), 'utf8').includes('config/dev'), 'the image build copies no development key directory')
  t.match(readFileSync(new URL('.dockerignore', ROOT), 'utf8'), /^config\/dev$/m, 'and .dockerignore keeps it out')
})

t.test('plaintext only on loopback unless allowed; client certificates can be required', async (t) => {
  const dev = { LEIX_DEV_KEYS: 'true' }
  t.throws(() => loadConfig({ ...dev, HOST: '0.0.0.0' }), { name: 'ConfigError', message: /LEIX_ALLOW_PLAINTEXT/ })
  t.throws(() => loadConfig({ ...dev, HOST: '10.1.2.3' }), { message: /not a loopback address/ })
  t.equal(loadConfig({ ...dev, HOST: '0.0.0.0', LEIX_ALLOW_PLAINTEXT: 'true' }).allowPlaintext, true)
  t.equal(loadConfig({ ...dev, HOST: '0.0.0.0', LEIX_ROLE: 'worker' }).role, 'worker', 'a worker does not listen')
  t.equal(loadConfig({ ...dev, HOST: '127.0.0.1' }).host, '127.0.0.1')
  t.throws(() => loadConfig({ ...dev, LEIX_TLS_CLIENT_CERT: 'required' }), { message: /LEIX_TLS_CLIENT_CA/ })
  t.throws(() => loadConfig({ ...dev, LEIX_SUPERVISORS: 'not a principal' }), { message: /supervisors\S* \(LEIX_SUPERVISORS\)/ })
  t.same(loadConfig({ ...dev, LEIX_SUPERVISORS: 'EU-EUROPOL/sup-1, AT-BK/sup-2' }).supervisors, ['EU-EUROPOL/sup-1', 'AT-BK/sup-2'])
})

t.test('rate limits: first, per address and per agency, shared between gateways; unidentified refusals aggregated', async (t) => {
  const queuePrefix = `leixtest-rl-${randomUUID().slice(0, 8)}`
  const databaseUrl = await createTestDatabase(t)
  const a = await buildTestApp(t, { databaseUrl, config: { rateLimitPerMinute: 4, queuePrefix } })
  const b = await buildTestApp(t, { databaseUrl, config: { rateLimitPerMinute: 4, queuePrefix } })
  const from = (remoteAddress: string, app = a.app, headers: Record<string, string> = {}) => app.inject({ url: '/v1/agencies', remoteAddress, headers })
  const codes = [(await from('10.0.0.1')).statusCode, (await from('10.0.0.1', b.app)).statusCode, (await from('10.0.0.1')).statusCode, (await from('10.0.0.1', b.app)).statusCode, (await from('10.0.0.1')).statusCode]
  t.same(codes, [200, 200, 200, 200, 429], 'one budget per address across two gateways (Redis)')
  const limited = await from('10.0.0.1', b.app)
  t.equal(limited.json().code, 'rate-limited')
  t.ok(limited.headers['retry-after'])
  t.equal((await a.app.inject({ url: '/health/live', remoteAddress: '10.0.0.1' })).statusCode, 200, 'health probes exempt')
  const garbage = await a.app.inject({ method: 'POST', url: '/v1/messages', remoteAddress: '10.0.0.1', headers: { authorization: 'Bearer x', 'content-type': 'text/plain' }, payload: 'x' })
  t.equal(garbage.statusCode, 429, 'before authentication and the content-type check')

  // Per agency: the same agency from many addresses.
  const token = tokenFor(a.app, 'AL-ASP')
  const agencyCodes: number[] = []
  for (let i = 0; i < 5; i++) agencyCodes.push((await a.app.inject({ url: '/v1/exchanges', remoteAddress: `10.0.1.${i}`, headers: { authorization: `Bearer ${token}` } })).statusCode)
  t.same(agencyCodes, [200, 200, 200, 200, 429], 'one budget per agency (token), whatever the address')

  // Refusals of unverified senders: counted, then one aggregate event per source and window.
  const events = async (type: string) => Number((await a.rt.pool.query<{ n: string }>('SELECT count(*) AS n FROM audit_events WHERE type = $1', [type])).rows[0]?.n)
  const rejectedBefore = await events('message.rejected')
  for (let i = 0; i < 6; i++) await a.app.inject({ method: 'POST', url: '/v1/messages', remoteAddress: '10.0.2.1', headers: { 'content-type': 'application/jose' }, payload: 'not-a-jws' })
  t.equal(await events('message.rejected'), rejectedBefore, 'no event per refusal of an unidentified sender')
  t.equal(await a.app.leixRejections!.flush(), 0, 'nothing recorded before the window ends')
  a.clock.advance(61_000)
  t.equal(await a.app.leixRejections!.flush(), 2, 'one aggregate event per source (10.0.0.1 earlier, 10.0.2.1) and window')
  t.equal(await b.app.leixRejections!.flush(), 0, 'and only once, whichever gateway flushes')
  const { rows } = await a.rt.pool.query<{ event: { details: Record<string, unknown>; reason: string } }>("SELECT event FROM audit_events WHERE type = 'intake.rejected-aggregate' AND event->'details'->>'source' = '10.0.2.1'")
  t.match(rows[0]?.event, { reason: 'unidentified-sender', details: { source: '10.0.2.1', 'count.malformed-jws': 4, 'count.rate-limited': 2, total: 6 } })

  // An identified agency's refusals stay one event each (A2).
  const bad = requestMessage(a.clock, { from: 'AL-ASP', to: 'RS-MUP' }, { caseRef: '' })
  const c = await buildTestApp(t, { databaseUrl, config: { queuePrefix: `${queuePrefix}-c` }, clock: a.clock })
  t.equal((await submit(c.app, await sign(bad))).statusCode, 422)
  t.equal(await events('message.rejected'), rejectedBefore + 1, 'a verified sender: one event')
})

t.test('logs keep no token, cookie, justification or query value', async (t) => {
  const lines: string[] = []
  const stream = new PassThrough()
  stream.on('data', (d: Buffer) => lines.push(d.toString()))
  const { app } = await buildTestApp(t, { config: { logLevel: 'trace' }, app: { logStream: stream } })
  const token = tokenFor(app, 'AL-ASP')
  const secret = 'Maria Example born 1990 asked for it'
  await app.inject({ url: `/v1/messages/${randomUUID()}?justification=${encodeURIComponent(secret)}`, headers: { authorization: `Bearer ${token}`, cookie: 'session=s3cr3t', 'leix-justification': encodeURIComponent(secret) } })
  await app.inject({ url: '/v1/exchanges', headers: { authorization: `Bearer ${token}` } })
  const log = lines.join('')
  t.ok(log.length > 0, 'something was logged')
  for (const value of [token, 's3cr3t', 'Maria', encodeURIComponent(secret)]) t.notOk(log.includes(value), `not in the log: ${value.slice(0, 12)}`)
})
