import t, { type Test } from 'tap'
import { createHmac, randomUUID } from 'node:crypto'
import * as jose from 'jose'
import { buildTestApp, sign, submit, requestMessage, agencyKey, count, tokenFor } from '../helpers.ts'
import { verifyReceipt, digestOf } from '../../src/intake/receipt.ts'

const { app, rt, clock } = await buildTestApp(t)

/** Refusals of unverified senders counted in Redis and not yet written as aggregate events. */
async function countedRefusals (rt: { redis: import('ioredis').Redis; config: { queuePrefix: string } }, code: string): Promise<number> {
  let n = 0
  for (const key of await rt.redis.keys(`${rt.config.queuePrefix}:rejections:*|*`)) n += Number((await rt.redis.hget(key, code)) ?? 0)
  return n
}

const nothingStored = async (t: Test, messageId: string | undefined, messagesBefore?: number) => {
  if (messagesBefore !== undefined) t.equal(await count(rt, 'SELECT 1 FROM messages'), messagesBefore, 'no message stored')
  if (messageId) {
    t.equal(await count(rt, 'SELECT 1 FROM messages WHERE id = $1', [messageId]), 0, 'this message not stored')
    t.equal(await rt.queue.queue.getJob(messageId), undefined, 'nothing queued')
  }
}

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')

t.test('a valid signed request is accepted, stored, queued and receipted', async (t) => {
  const message = requestMessage(clock)
  const jws = await sign(message)
  const res = await submit(app, jws)
  t.equal(res.statusCode, 202)
  const body = res.json()
  t.equal(body.messageId, message.id)
  t.equal(body.status, 'accepted')
  t.match(body.deadline, /^\d{4}-/)
  const jwks = (await app.inject('/.well-known/jwks.json')).json()
  const receipt = await verifyReceipt(body.receipt, jwks, jws)
  t.equal(receipt.digest, digestOf(jws))
  t.equal(receipt.exchangeId, body.exchangeId)
  t.equal(await count(rt, 'SELECT 1 FROM messages WHERE id = $1', [message.id]), 1)
  const job = await rt.queue.queue.getJob(message.id)
  t.ok(job, 'delivery job queued with jobId = messageId')
  t.same(job?.data, { messageId: message.id }, 'the job carries the id only')
  const types = (await rt.pool.query('SELECT type FROM audit_events WHERE message_id = $1 ORDER BY recorded', [message.id])).rows.map((r) => r.type)
  t.same(types.sort(), ['exchange.opened', 'message.accepted', 'message.received'])
  const events = (await rt.pool.query('SELECT event FROM audit_events WHERE message_id = $1', [message.id])).rows
  t.notMatch(JSON.stringify(events), /SUBJ-7F3A|cannabis|vehicle/, 'no personal data or body text in the audit log')

  t.test('the same message again answers the first result, without a second effect', async (t) => {
    const again = await submit(app, jws)
    t.equal(again.statusCode, 200)
    t.same(again.json(), body)
    t.equal(await count(rt, 'SELECT 1 FROM messages WHERE id = $1', [message.id]), 1)
    t.equal(await count(rt, "SELECT 1 FROM audit_events WHERE message_id = $1 AND type = 'message.accepted'", [message.id]), 1)
  })

  t.test('the same id with a different payload is refused as a replay (T4)', async (t) => {
    const other = await sign({ ...message, caseRef: 'CASE-OTHER' })
    const res = await submit(app, other)
    t.equal(res.statusCode, 409)
    t.equal(res.json().type, 'urn:leix:problem:replayed-message-id')
    t.equal(res.json().violations[0].rule, 'T4')
    const stored = await rt.pool.query('SELECT digest FROM messages WHERE id = $1', [message.id])
    t.equal(stored.rows[0].digest, digestOf(jws), 'the original is untouched')
  })
})

t.test('hostile and malformed input is refused with a stable code; nothing is stored', async (t) => {
  const al = agencyKey('AL-ASP')
  const rs = agencyKey('RS-MUP')
  const cases: { name: string; jws: () => Promise<string> | string; status: number; code: string; contentType?: string; rule?: string; id?: string }[] = []
  const m = () => requestMessage(clock)

  const none = m()
  cases.push({
    name: 'alg none', id: none.id, status: 400, code: 'algorithm-not-allowed', rule: 'S1',
    jws: () => `${b64({ alg: 'none', kid: al.kid, typ: 'leix-message+json' })}.${b64(none)}.c2ln`
  })
  const hs = m()
  cases.push({
    name: 'HS256 keyed with the public key', id: hs.id, status: 400, code: 'algorithm-not-allowed', rule: 'S1',
    jws: () => {
      const input = `${b64({ alg: 'HS256', kid: al.kid, typ: 'leix-message+json' })}.${b64(hs)}`
      return `${input}.${createHmac('sha256', JSON.stringify(al.publicJwk)).update(input).digest('base64url')}`
    }
  })
  const unknown = m()
  cases.push({
    name: 'unknown kid', id: unknown.id, status: 401, code: 'unknown-key', jws: async () => {
      const stranger = await jose.generateKeyPair('EdDSA', { extractable: true })
      return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(unknown))).setProtectedHeader({ alg: 'EdDSA', kid: 'nobody-1', typ: 'leix-message+json' }).sign(stranger.privateKey)
    }
  })
  const otherAgency = m()
  cases.push({ name: "another agency's kid (S1 binding)", id: otherAgency.id, status: 422, code: 'principle-violation', rule: 'S1', jws: () => sign(otherAgency, { key: rs }) })
  const tampered = m()
  cases.push({
    name: 'tampered payload', id: tampered.id, status: 401, code: 'bad-signature', jws: async () => {
      const [h, , s] = (await sign(tampered)).split('.')
      return `${h}.${b64({ ...tampered, caseRef: 'CASE-EVIL' })}.${s}`
    }
  })
  const stale = m()
  stale.createdAt = new Date(clock.now().getTime() - 3600_000).toISOString()
  cases.push({ name: 'stale createdAt', id: stale.id, status: 422, code: 'principle-violation', rule: 'T4', jws: () => sign(stale) })
  const future = m()
  future.createdAt = new Date(clock.now().getTime() + 3600_000).toISOString()
  cases.push({ name: 'future createdAt', id: future.id, status: 422, code: 'principle-violation', rule: 'T4', jws: () => sign(future) })
  cases.push({ name: 'payload not JSON', status: 400, code: 'malformed-json', jws: () => sign(null, { as: 'AL-ASP', raw: '{"id": "x", ' }) })
  cases.push({ name: 'payload a JSON array', status: 400, code: 'malformed-json', jws: () => sign(null, { as: 'AL-ASP', raw: '[1,2]' }) })
  cases.push({ name: 'not a JWS', status: 400, code: 'malformed-jws', jws: () => 'hello world' })
  cases.push({ name: 'JWS with a garbage header', status: 400, code: 'malformed-jws', jws: () => 'bm90LWpzb24.e30.c2ln' })
  cases.push({ name: 'JSON serialisation instead of compact', status: 400, code: 'malformed-jws', jws: () => JSON.stringify({ payload: 'e30', signatures: [] }) })
  const wrongTyp = m()
  cases.push({ name: 'wrong typ', id: wrongTyp.id, status: 400, code: 'bad-jws-type', jws: () => sign(wrongTyp, { header: { typ: 'JWT' } }) })
  const embedded = m()
  cases.push({ name: 'embedded jwk header', id: embedded.id, status: 400, code: 'malformed-jws', jws: () => sign(embedded, { header: { jwk: al.publicJwk } }) })
  const proto = m()
  cases.push({
    name: '__proto__ key', status: 400, code: 'malformed-json',
    jws: () => sign(null, { as: 'AL-ASP', raw: JSON.stringify(proto).replace('"body":{', '"body":{"__proto__":{"isAdmin":true},') })
  })
  const ctor = m()
  cases.push({
    name: 'constructor.prototype key', status: 400, code: 'malformed-json',
    jws: () => sign(null, { as: 'AL-ASP', raw: JSON.stringify(ctor).replace('"body":{', '"body":{"constructor":{"prototype":{"x":1}},') })
  })
  const ctorPlain = m()
  ctorPlain.body = { constructor: 'x', text: 'y' }
  cases.push({ name: 'constructor key in body', id: ctorPlain.id, status: 422, code: 'schema-violation', jws: () => sign(ctorPlain) })
  const json = m()
  cases.push({ name: 'wrong content type', id: json.id, status: 415, code: 'unsupported-media-type', contentType: 'application/json', jws: async () => JSON.stringify(json) })
  cases.push({ name: 'text/plain JWS', status: 415, code: 'unsupported-media-type', contentType: 'text/plain', jws: () => sign(m()) })
  const huge = m()
  huge.body = { text: 'x'.repeat(rt.config.bodyLimitBytes) }
  cases.push({ name: 'oversized body', id: huge.id, status: 413, code: 'payload-too-large', jws: () => sign(huge) })
  const extra = m()
  extra.unexpected = true
  cases.push({ name: 'unknown top-level field', id: extra.id, status: 422, code: 'schema-violation', jws: () => sign(extra) })

  for (const c of cases) {
    t.test(c.name, async (t) => {
      const before = await count(rt, "SELECT 1 FROM audit_events WHERE type = 'message.rejected'") + await countedRefusals(rt, c.code)
      const messagesBefore = await count(rt, 'SELECT 1 FROM messages')
      const res = await submit(app, await c.jws(), c.contentType)
      t.equal(res.statusCode, c.status, 'status')
      t.match(res.headers['content-type'], /^application\/problem\+json/)
      const problem = res.json()
      t.equal(problem.type, `urn:leix:problem:${c.code}`, 'stable code')
      t.type(problem.title, 'string')
      t.type(problem.detail, 'string')
      if (c.rule) t.ok(problem.violations?.some((v: { rule: string }) => v.rule === c.rule), `names rule ${c.rule}`)
      await nothingStored(t, c.id, messagesBefore)
      // An identified sender's refusal is one event; an unverified sender's is counted for its window's aggregate event.
      t.equal(await count(rt, "SELECT 1 FROM audit_events WHERE type = 'message.rejected'") + await countedRefusals(rt, c.code), before + 1, 'rejection recorded')
    })
  }
  t.test('no rejected message left a trace but its rejection event', async (t) => {
    const ids = cases.flatMap((c) => (c.id ? [c.id] : []))
    t.equal(await count(rt, 'SELECT 1 FROM messages WHERE id = ANY($1::uuid[])', [ids]), 0)
    const rejected = (await rt.pool.query("SELECT event FROM audit_events WHERE type = 'message.rejected'")).rows
    t.notMatch(JSON.stringify(rejected), /SUBJ-7F3A|cannabis|xxxxxxxx/, 'rejections hold no payload')
  })
})

t.test('each principle: an accepting and a rejecting case through the gateway', async (t) => {
  const rules: { rule: string; path: string; patch: (m: Record<string, any>) => void }[] = [
    { rule: 'L1', path: '/legalBasis/instrument', patch: (m) => { m.legalBasis = { instrument: 'NO-SUCH-TREATY' } } },
    { rule: 'L1', path: '/to/agency', patch: (m) => { m.to = { agency: 'XK-KP' } } }, // Kosovo is not a PCC-SEE party
    { rule: 'L2', path: '/purpose/necessity', patch: (m) => { delete m.purpose.necessity } },
    { rule: 'L3', path: '/caseRef', patch: (m) => { m.caseRef = '   ' } },
    { rule: 'T1', path: '/urgency/grounds', patch: (m) => { m.urgency = { level: 'urgent', reasons: 'soon' } } },
    { rule: 'S2', path: '/handling/restrictions', patch: (m) => { m.handling = { code: 'H3', classification: 'BASIC_PROTECTION' } } },
    { rule: 'S2', path: '/handling/code', patch: (m) => { m.handling = { code: 'H7', classification: 'BASIC_PROTECTION' } } },
    { rule: 'S3', path: '/handling/classification', patch: (m) => { m.handling = { code: 'H0', classification: 'EU_SECRET' } } },
    { rule: 'S3', path: '/handling/classification', patch: (m) => { m.to = { agency: 'XK-KP' }; m.legalBasis = { instrument: 'BIL-AL-XK' }; m.handling = { code: 'H0', classification: 'EU_RESTRICTED' } } }, // XK-KP is cleared for BASIC_PROTECTION only
  ]
  for (const r of rules) {
    t.test(`${r.rule} rejects (${r.path})`, async (t) => {
      const m = requestMessage(clock)
      r.patch(m)
      const res = await submit(app, await sign(m))
      t.equal(res.statusCode, 422)
      t.equal(res.json().code, 'principle-violation')
      t.ok(res.json().violations.some((v: { rule: string; path: string }) => v.rule === r.rule && v.path === r.path), JSON.stringify(res.json().violations))
      await nothingStored(t, m.id)
    })
  }
  t.test('accepting cases: urgent with grounds (T1/T2 8 hours), H3 with restrictions, EU_RESTRICTED to a cleared agency', async (t) => {
    const urgent = requestMessage(clock, { from: 'AT-BK', to: 'DE-BKA' }, { legalBasis: { instrument: 'EU-2023/977' }, urgency: { level: 'urgent', grounds: ['threat-to-life'], reasons: 'A witness has been threatened.' } })
    const res = await submit(app, await sign(urgent))
    t.equal(res.statusCode, 202, JSON.stringify(res.json()))
    t.equal(new Date(res.json().deadline).getTime() - clock.now().getTime(), 8 * 3600_000, 'urgent deadline is 8 hours from receipt (T2)')
    const normal = requestMessage(clock, { from: 'AT-BK', to: 'DE-BKA' }, { legalBasis: { instrument: 'EU-2023/977' } })
    const res2 = await submit(app, await sign(normal))
    t.equal(res2.statusCode, 202, JSON.stringify(res2.json()))
    t.equal(new Date(res2.json().deadline).getTime() - clock.now().getTime(), 7 * 86400_000, '2023/977 normal deadline is 7 days (T2)')
    const h3 = requestMessage(clock, {}, { handling: { code: 'H3', restrictions: 'Not to be shared with customs.', classification: 'EU_RESTRICTED' } })
    t.equal((await submit(app, await sign(h3))).statusCode, 202)
  })
  t.test('ES256 keys are accepted too', async (t) => {
    const { generateKeyPair, signingKeyFromJwk } = await import('../../src/config/keys.ts')
    const pair = await generateKeyPair('AL-ASP-es256-test', 'ES256')
    const agency = rt.directory.agencies.get('AL-ASP')!
    agency.jwks.keys.push(pair.publicJwk)
    ;(rt.directory.keyOwners as Map<string, string>).set('AL-ASP-es256-test', 'AL-ASP')
    t.teardown(() => { agency.jwks.keys.pop(); (rt.directory.keyOwners as Map<string, string>).delete('AL-ASP-es256-test') })
    const res = await submit(app, await sign(requestMessage(clock), { key: signingKeyFromJwk(pair.privateJwk) }))
    t.equal(res.statusCode, 202)
  })
})

t.test('tracking: only the two agencies see an exchange', async (t) => {
  const message = requestMessage(clock)
  const { exchangeId } = (await submit(app, await sign(message))).json()
  const get = (agency: string | undefined, url = `/v1/exchanges/${exchangeId}`) =>
    app.inject({ method: 'GET', url, headers: agency ? { authorization: `Bearer ${tokenFor(app, agency)}` } : {} })

  const mine = await get('AL-ASP')
  t.equal(mine.statusCode, 200)
  const detail = mine.json()
  t.equal(detail.status, 'accepted')
  t.equal(detail.direction, 'outgoing')
  t.equal(detail.deadline, new Date(clock.now().getTime() + 14 * 86400_000).toISOString(), 'PCC-SEE sets no time limit: the configured default of the sample directory, 14 calendar days (T2)')
  t.equal(detail.timeLeftSeconds, 14 * 86400)
  t.same(detail.timeline.map((e: { event: string }) => e.event).sort(), ['exchange.opened', 'message.accepted', 'message.received'])
  t.equal(detail.messages[0].id, message.id)
  t.notOk('body' in detail.messages[0], 'no body in tracking')

  const theirs = await get('RS-MUP')
  t.equal(theirs.statusCode, 200)
  t.equal(theirs.json().direction, 'incoming')

  const stranger = await get('ME-UP')
  t.equal(stranger.statusCode, 404)
  t.equal(stranger.json().code, 'not-found')
  t.equal(await count(rt, "SELECT 1 FROM audit_events WHERE type = 'access.denied' AND exchange_id = $1", [exchangeId]), 1, 'denied access is an audit event')

  t.equal((await get(undefined)).statusCode, 401)
  const forged = await app.inject({ method: 'GET', url: `/v1/exchanges/${exchangeId}`, headers: { authorization: `Bearer ${await new jose.SignJWT({ agency: 'AL-ASP', roles: ['officer'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('x').setIssuer('leix').sign(new TextEncoder().encode('secret'))}` } })
  t.equal(forged.statusCode, 401, 'an HS256 token is refused')
  t.equal((await get('AL-ASP', `/v1/exchanges/${randomUUID()}`)).statusCode, 404)
  t.equal((await get('AL-ASP', '/v1/exchanges/not-a-uuid')).statusCode, 400)

  t.test('list with filters and paging', async (t) => {
    const out = await get('AL-ASP', '/v1/exchanges?direction=outgoing&limit=2')
    t.equal(out.statusCode, 200)
    t.equal(out.json().items.length, 2)
    t.ok(out.json().nextCursor)
    const next = await get('AL-ASP', `/v1/exchanges?direction=outgoing&limit=2&cursor=${out.json().nextCursor}`)
    t.equal(next.statusCode, 200)
    t.notSame(next.json().items[0].id, out.json().items[0].id)
    const incoming = (await get('RS-MUP', '/v1/exchanges?direction=incoming&crimeArea=drug-trafficking')).json()
    t.ok(incoming.items.length >= 1)
    t.ok(incoming.items.every((e: { responder: string }) => e.responder === 'RS-MUP'))
    t.equal((await get('ME-UP', '/v1/exchanges')).json().items.length, 0, 'an uninvolved agency sees none')
    const notOverdue = (await get('AL-ASP', '/v1/exchanges?overdue=false')).json()
    t.ok(notOverdue.items.length >= 1)
    clock.advance(15 * 86400_000)
    const overdue = (await get('AL-ASP', '/v1/exchanges?overdue=true')).json()
    t.ok(overdue.items.some((e: { id: string; overdue: boolean }) => e.id === exchangeId && e.overdue))
    clock.advance(-15 * 86400_000)
    t.equal((await get('AL-ASP', '/v1/exchanges?status=bogus')).statusCode, 400)
    const forged = await get('AL-ASP', `/v1/exchanges?cursor=${Buffer.from('yesterday|x').toString('base64url')}`)
    t.equal(forged.statusCode, 400, 'a cursor leix did not give out is a clear 400')
    t.equal(forged.json().code, 'bad-request')
    const range = (await get('AL-ASP', `/v1/exchanges?from=${new Date(clock.now().getTime() + 1000).toISOString()}`)).json()
    t.equal(range.items.length, 0)
  })
})

t.test('directory, keys, health and OpenAPI', async (t) => {
  const jwks = (await app.inject('/.well-known/jwks.json')).json()
  t.equal(jwks.keys.length, 1)
  t.notOk('d' in jwks.keys[0], 'public only')
  const agencies = (await app.inject('/v1/agencies')).json().agencies
  t.ok(agencies.find((a: { id: string }) => a.id === 'XK-KP'))
  t.notMatch(JSON.stringify(agencies), /"d":/)
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 200, ready.body)
  t.equal((await app.inject('/health/live')).statusCode, 200)
  const doc = (await app.inject('/docs/json')).json()
  t.equal(doc.openapi, '3.1.0')
  t.ok(doc.paths['/v1/messages'])
  t.ok(doc.components.schemas.Message)
})
