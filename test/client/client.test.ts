// The client library against a real leix on loopback: both sides of an exchange, the broker's
// signatures checked (receipt, delivery, checkpoint, inclusion proof) with a JWKS holding several
// keys, errors typed; and every call it makes is a path and method of the served OpenAPI document.
import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import * as jose from 'jose'
import { LeixApiError, LeixClient, LeixConnectionError, VerificationError, signMessage, verifyInclusionProof, type InclusionProof } from '../../src/client/index.ts'
import { signDelivery } from '../../src/delivery/signature.ts'
import { digestOf } from '../../src/intake/receipt.ts'
import { agencyKey, buildTestApp, requestMessage, tokenFor } from '../helpers.ts'

const { app, clock, services, rt } = await buildTestApp(t)
const baseUrl = await app.listen({ port: 0, host: '127.0.0.1' })

/** Every request any client of this test makes: checked against the OpenAPI document at the end. */
const calls: { method: string; path: string }[] = []
class RecordingClient extends LeixClient {
  override async request<T> (method: 'GET' | 'POST', path: string, o: { body?: string; contentType?: string; auth?: boolean } = {}): Promise<T> {
    calls.push({ method, path: path.split('?')[0] as string })
    return await super.request<T>(method, path, o)
  }
}
const clientOf = (agency?: string, roles: string[] = ['officer']) => new RecordingClient({ baseUrl, ...(agency ? { token: tokenFor(app, agency, roles) } : {}) })

const sender = clientOf('AL-ASP')
const recipient = clientOf('RS-MUP', ['system'])
const request = requestMessage(clock)
const { jws, answer } = await sender.send(request, agencyKey('AL-ASP'))

/** The broker's JWKS with an unrelated key before its own (as during a rotation). */
const brokerJwks = await sender.jwks()
const other = { ...(await jose.exportJWK(generateKeyPairSync('ed25519').publicKey)), kid: 'other-key', alg: 'EdDSA', use: 'sig' }
const severalKeys = { keys: [other, ...brokerJwks.keys] }

t.test('sign, submit and verify the receipt, by kid in a JWKS of several keys', async (t) => {
  t.equal(answer.messageId, request.id)
  t.equal(answer.status, 'accepted')
  t.match(await sender.verifyReceipt(answer.receipt, jws, severalKeys), { messageId: request.id, exchangeId: answer.exchangeId })
  await t.rejects(sender.verifyReceipt(answer.receipt, await signMessage(request, agencyKey('AL-ASP'), { fresh: true })), { code: 'digest-mismatch' })
  await t.rejects(sender.verifyReceipt(answer.receipt, jws, { keys: [other] }), VerificationError, 'not the broker key')
})

t.test('the recipient reads its inbox and acknowledges; the sender follows the exchange', async (t) => {
  const inbox = await recipient.inbox({ limit: 10 })
  const item = inbox.items.find((i) => i.messageId === request.id)
  t.ok(item, 'the request is in the inbox')
  t.equal(item?.jws, jws, "the sender's JWS byte for byte")
  t.equal(item?.digest, digestOf(jws))
  t.match(await recipient.ack(request.id), { messageId: request.id, status: 'acknowledged' })
  t.notOk((await recipient.inbox()).items.some((i) => i.messageId === request.id), 'gone once acknowledged')
  const detail = await sender.exchange(answer.exchangeId)
  t.equal(detail.status, 'acknowledged')
  t.ok(detail.timeline.length > 0)
  t.ok((await sender.exchanges({ direction: 'outgoing', limit: 5 })).items.some((e) => e.id === answer.exchangeId))
  t.same((await recipient.notifications({ after: 0 })).items, [], 'nothing to notify yet')
})

t.test('a pushed delivery is checked against the body and the recipient', async (t) => {
  const signature = signDelivery({
    messageId: request.id, exchangeId: answer.exchangeId, sender: 'AL-ASP', recipient: 'RS-MUP', kind: 'request', digest: digestOf(jws), attempt: 1, sentAt: clock.now().toISOString(),
  }, rt.brokerKey)
  t.match(await recipient.verifyDelivery(signature, { body: jws, recipient: 'RS-MUP' }, severalKeys), { messageId: request.id, attempt: 1 })
  await t.rejects(recipient.verifyDelivery(signature, { body: jws + 'x' }), { code: 'digest-mismatch' })
  await t.rejects(recipient.verifyDelivery(signature, { recipient: 'ME-UP' }), { code: 'wrong-recipient' })
})

t.test('an event of the exchange proven in a signed checkpoint, offline, and a tampered proof refused', async (t) => {
  const sealed = await services.audit.sealOnce()
  t.equal(sealed.status, 'sealed')
  const seq = (await sender.exchange(answer.exchangeId)).timeline.find((e) => typeof e.seq === 'number')?.seq
  t.type(seq, 'number', 'the timeline names sealed events by seq')
  const proven = await sender.proveEvent(seq as number, { jwks: severalKeys })
  t.equal(proven.seq, seq)
  t.equal(proven.checkpoint.kid, rt.brokerKey.kid)
  t.ok(Array.isArray(proven.event.agencies))
  const latest = await sender.checkpoint()
  t.equal(latest.treeSize, proven.checkpoint.treeSize)
  t.equal((await sender.checkpoint(latest.treeSize)).jws, latest.jws)

  const proof = await sender.inclusionProof(seq as number)
  const tampered: InclusionProof = { ...proof, line: proof.line.replace('"outcome":"', '"outcome":"x') }
  await t.rejects(verifyInclusionProof(tampered, severalKeys), { code: 'bad-proof' })
  if (proof.auditPath.length > 0) {
    await t.rejects(verifyInclusionProof({ ...proof, auditPath: [...proof.auditPath].reverse().map((h, i) => (i === 0 ? Buffer.alloc(32).toString('base64') : h)) }, severalKeys), { code: 'bad-proof' })
  }
  await t.rejects(verifyInclusionProof(proof, { keys: [other] }), { code: 'unknown-key' })
})

t.test('errors: a problem answer, no token, an unreachable broker', async (t) => {
  const refused = await sender.submit('not.a.jws').catch((err: unknown) => err)
  t.ok(refused instanceof LeixApiError)
  t.equal((refused as LeixApiError).status, 400)
  t.type((refused as LeixApiError).problem?.code, 'string', 'the problem+json is kept')
  const stranger = await clientOf('ME-UP').exchange(answer.exchangeId).catch((err: unknown) => err)
  t.equal((stranger as LeixApiError).status, 404, 'another agency does not see the exchange')
  await t.rejects(clientOf().inbox(), TypeError, 'a bearer token is needed')
  await t.rejects(new LeixClient({ baseUrl: 'http://127.0.0.1:1' }).jwks(), LeixConnectionError)
  t.throws(() => new LeixClient({ baseUrl, cert: 'x' }), TypeError, 'cert without key')
})

t.test('every path and method the client called is in the served OpenAPI document', async (t) => {
  const doc = (await (await fetch(`${baseUrl}/docs/json`)).json()) as { paths: Record<string, Record<string, unknown>> }
  const routes = Object.entries(doc.paths).map(([path, ops]) => ({
    pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`), methods: Object.keys(ops).map((m) => m.toUpperCase()),
  }))
  const seen = new Set(calls.map((c) => `${c.method} ${c.path.replace(/\/\d+$|\/[0-9a-f-]{36}/g, '/:x')}`))
  t.ok(seen.size >= 10, `the tests above exercised the client (${[...seen].join(', ')})`)
  for (const c of calls) {
    t.ok(routes.some((r) => r.pattern.test(c.path) && r.methods.includes(c.method)), `${c.method} ${c.path} is documented`)
  }
})
