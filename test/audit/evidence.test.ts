// The evidence bundle of an exchange: served to its two parties only (others get the 404 of a
// missing exchange, and are logged), logged itself, and verifiable offline; every tampering of a
// bundle is caught and named by the check that fails.
import t from 'tap'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { verifyEvidence, type EvidenceBundle } from '../../src/audit/evidence.ts'
import { canonicalString } from '../../src/audit/canonical.ts'
import { cosign, formatNote, logNoteKey, parseNote, parseVkey, signCheckpointNote } from '../../src/audit/note.ts'
import { witnessPolicy } from '../../src/audit/witness.ts'
import { main } from '../../src/cli/main.ts'
import { runWitnessRound, witnessVkey, type WitnessConfig } from '../../src/cli/witness.ts'
import { ManualClock } from '../../src/config/clock.ts'
import { buildTestApp, requestMessage, sign, submit, tokenFor } from '../helpers.ts'
import { brokerJwks } from './fixtures.ts'

const evidenceCommand = (args: string[]): Promise<number> => main(['evidence', ...args])

const dir = mkdtempSync(join(tmpdir(), 'leix-evidence-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const identities = [1, 2].map((i) => ({ name: `w${i}.example/leix`, privateKey: generateKeyPairSync('ed25519').privateKey }))
const vkeys = identities.map(witnessVkey)

const built = await buildTestApp(t, { clock: new ManualClock(new Date()), config: { origin: 'leix.test', witnesses: vkeys.join(' ') }, workers: true, deliveryWorkers: false })
const { rt, clock } = built
const app: FastifyInstance = built.app
const audit = built.services.audit
const jwks = await brokerJwks(app)
const jwksFile = join(dir, 'jwks.json')
writeFileSync(jwksFile, JSON.stringify(jwks))

// Witnesses reach leix through inject(): the same protocol, no socket.
const injectFetch = (async (input: string | URL | Request, init?: RequestInit) => {
  const u = new URL(String(input))
  const r = await app.inject({ method: (init?.method ?? 'GET') as 'GET', url: u.pathname + u.search, headers: init?.headers as Record<string, string>, ...(init?.body ? { payload: String(init.body) } : {}) })
  return new Response(r.body, { status: r.statusCode, headers: { 'content-type': String(r.headers['content-type'] ?? 'text/plain') } })
}) as typeof fetch
const witnessCfg = (i: number): WitnessConfig => ({
  url: 'http://leix.invalid', identity: identities[i]!, logs: new Map([['leix.test', [logNoteKey('leix.test', rt.brokerKey.publicJwk)]]]),
  statePath: join(dir, `state-${i}.json`), fetch: injectFetch, now: () => clock.now(),
})
const cosignAll = async (): Promise<void> => {
  clock.advance(60_000)
  await audit.sealOnce()
  for (const i of [0, 1]) {
    const r = await runWitnessRound(witnessCfg(i))
    if (r.status !== 'cosigned') throw new Error(`witness ${i}: ${JSON.stringify(r)}`)
  }
}

// An exchange AL-ASP -> RS-MUP with a request and a response.
const request = requestMessage(clock)
const requestJws = await sign(request)
const sent = await submit(app, requestJws)
if (sent.statusCode !== 202) throw new Error(sent.body)
const exchangeId: string = sent.json().exchangeId
const response = {
  ...requestMessage(clock, { from: 'RS-MUP', to: 'AL-ASP' }), kind: 'response', inReplyTo: request.id, evaluation: { source: 'B', information: '2' },
  purpose: { statement: 'Reply in case CASE-2026-0815' }, body: { facts: 'The vehicle is registered to the subject.' },
}
const answered = await submit(app, await sign(response))
if (answered.statusCode !== 202) throw new Error(answered.body)
await cosignAll()

const policy = witnessPolicy(vkeys.map(parseVkey), 2)
const justification = 'Court order 12/2026, evidence for proceedings'
/** The bundle as `agency` asks for it; bodies need a justification, given in its header only. */
const evidence = (agency: string, roles = ['officer'], justified?: string) =>
  app.inject({
    method: 'GET', url: `/v1/exchanges/${exchangeId}/evidence`,
    headers: { authorization: `Bearer ${tokenFor(app, agency, roles)}`, ...(justified === undefined ? {} : { 'leix-justification': justified }) },
  })

t.test('a party gets a bundle that verifies offline against the broker keys and a 2-of-2 witness policy', async (t) => {
  const res = await evidence('AL-ASP', ['officer'], justification)
  t.equal(res.statusCode, 200)
  const bundle = res.json() as EvidenceBundle
  t.equal(bundle.party, 'AL-ASP')
  t.equal(bundle.messages.length, 2)
  t.equal(bundle.messages.find((m) => m.id === request.id)?.jws, requestJws, 'the original JWS, byte for byte')
  t.ok(bundle.events.length >= 3)
  t.ok(bundle.events.every((e) => (JSON.parse(e.line).agencies as string[]).includes('AL-ASP')), "only the party's events")
  t.equal(parseNote(bundle.checkpoint.note).signatures.length, 3, 'broker signature and two cosignatures')
  t.match(await verifyEvidence(bundle, { jwks, policy }), { ok: true, jwsVerified: 2, witnesses: [identities[0]!.name, identities[1]!.name] })
  const file = join(dir, 'bundle.json')
  writeFileSync(file, res.body)
  t.equal(await evidenceCommand(['verify', file, '--jwks', jwksFile, ...vkeys.flatMap((v) => ['--witness-key', v]), '--witness-threshold', '2']), 0)
  t.equal(await evidenceCommand(['verify', file]), 0, 'integrity with the keys in the bundle')
  t.equal(await evidenceCommand(['verify', file, '--witness-key', witnessVkey({ name: 'x.example', privateKey: generateKeyPairSync('ed25519').privateKey }), '--witness-threshold', '1']), 1, 'an unknown witness cannot make up the quorum')

  const { rows } = await rt.pool.query<{ type: string; n: number }>(
    "SELECT type, count(*)::int AS n FROM audit_events WHERE exchange_id = $1 AND type IN ('evidence.exported', 'message.consulted') GROUP BY type ORDER BY type", [exchangeId])
  t.same(rows, [{ type: 'evidence.exported', n: 1 }, { type: 'message.consulted', n: 2 }], 'the bundle and each body in it are logged')
})

t.test('without a justification, or for a role that reads no bodies, the bundle holds digests only', async (t) => {
  for (const [roles, why] of [[['officer'], 'justification-required'], [['auditor'], 'role']] as const) {
    const res = await evidence('RS-MUP', [...roles])
    t.equal(res.statusCode, 200)
    const bundle = res.json() as EvidenceBundle
    t.ok(bundle.messages.every((m) => m.jws === null && m.jwsOmitted === why), why)
    t.match(await verifyEvidence(bundle, { jwks, policy }), { ok: true, jwsVerified: 0 })
  }
  t.equal((await evidence('RS-MUP', ['officer'], 'short')).json().code, 'justification-required')
})

t.test('only the two parties: others get the answer of a missing exchange, and are logged', async (t) => {
  const other = await evidence('ME-UP')
  const missing = await app.inject({ method: 'GET', url: `/v1/exchanges/${randomUUID()}/evidence`, headers: { authorization: `Bearer ${tokenFor(app, 'ME-UP')}` } })
  t.equal(other.statusCode, 404)
  t.equal(missing.statusCode, 404)
  t.equal(other.json().code, missing.json().code)
  t.equal(other.json().title, missing.json().title)
  for (const roles of [['auditor'], ['dpo'], ['admin'], ['system']]) t.equal((await evidence('DE-BKA', roles)).statusCode, 404, `another agency's ${roles[0]}`)
  t.equal((await app.inject(`/v1/exchanges/${exchangeId}/evidence`)).statusCode, 401, 'no token')
  const { rows } = await rt.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM audit_events WHERE exchange_id = $1 AND type = 'access.denied' AND event->'details'->>'resource' = 'evidence'", [exchangeId])
  t.equal(rows[0]!.n, 5)
})

t.test('an erased payload leaves its digest and receipt in the bundle', async (t) => {
  await rt.pool.query('UPDATE messages SET jws = NULL, erased_at = $2 WHERE id = $1', [request.id, clock.now()])
  const bundle = (await evidence('AL-ASP', ['officer'], justification)).json() as EvidenceBundle
  t.match(bundle.messages.find((m) => m.id === request.id), { jws: null, jwsOmitted: 'erased' })
  t.ok(bundle.messages.find((m) => m.id === (response as unknown as { id: string }).id)?.jws)
  t.match(await verifyEvidence(bundle, { jwks, policy }), { ok: true, jwsVerified: 1 })
})

t.test('every tampering is caught and named', async (t) => {
  await cosignAll()
  const good = (await evidence('AL-ASP', ['officer'], justification)).json() as EvidenceBundle
  t.match(await verifyEvidence(good, { jwks, policy }), { ok: true })
  const { rows: first } = await rt.pool.query<{ n: number }>('SELECT min(tree_size)::int AS n FROM audit_checkpoints')
  const older = (await app.inject({ method: 'GET', url: `/v1/audit/checkpoints/${first[0]!.n}`, headers: { authorization: `Bearer ${tokenFor(app, 'AL-ASP')}` } })).json()
  if (older.treeSize === good.checkpoint.treeSize) throw new Error('need an older checkpoint')
  const stranger = generateKeyPairSync('ed25519').privateKey
  const flip = (b64url: string, at = 5): string => { const raw = Buffer.from(b64url, 'base64url'); raw[at] = (raw[at] ?? 0) ^ 1; return raw.toString('base64url') }
  const editLine = (line: string, patch: Record<string, unknown>): string => canonicalString({ ...JSON.parse(line), ...patch })
  const { text } = parseNote(good.checkpoint.note)
  const brokerLine = parseNote(good.checkpoint.note).signatures[0]!.line
  const cosigs = parseNote(good.checkpoint.note).signatures.slice(1).map((s) => s.line)
  const withJws = good.messages.findIndex((m) => m.jws !== null)

  const cases: [string, (b: EvidenceBundle) => void, string, { jwks?: typeof jwks }?][] = [
    ['another format', (b) => { (b as { format: string }).format = 'x' }, 'bundle-format'],
    ['an event without its path', (b) => { delete (b.events[0] as Partial<EvidenceBundle['events'][0]>).auditPath }, 'bundle-format'],
    ['a checkpoint JWS with a broken signature', (b) => { const [h, p, s] = b.checkpoint.jws.split('.'); b.checkpoint.jws = `${h}.${p}.${flip(s!)}` }, 'checkpoint-signature'],
    ['untrusted broker keys (--jwks of someone else)', () => {}, 'checkpoint-signature', { jwks: { keys: [{ ...(stranger.export({ format: 'jwk' })), d: undefined, kid: jwks.keys[0]!.kid } as never] } }],
    ['the note of another checkpoint', (b) => { b.checkpoint.note = signCheckpointNote({ origin: 'leix.test', treeSize: older.treeSize, rootHash: older.rootHash }, rt.brokerKey.privateKey) }, 'checkpoint-note'],
    ['a note signed by someone else', (b) => { b.checkpoint.note = formatNote(text, [signCheckpointNote({ origin: 'leix.test', treeSize: good.checkpoint.treeSize, rootHash: good.checkpoint.rootHash }, stranger).split('\n\n')[1]!, ...cosigs]) }, 'checkpoint-note'],
    ['a cosignature removed (1 of the 2 required)', (b) => { b.checkpoint.note = formatNote(text, [brokerLine, cosigs[0]!]) }, 'witness-policy'],
    ['a forged cosignature', (b) => { b.checkpoint.note = formatNote(text, [brokerLine, cosigs[0]!, cosign(text, identities[1]!.name, stranger, 1_800_000_000)]) }, 'witness-policy'],
    ['a cosignature for another checkpoint', (b) => {
      const otherText = `leix.test\n${older.treeSize}\n${older.rootHash}\n`
      b.checkpoint.note = formatNote(text, [brokerLine, cosigs[0]!, cosign(otherText, identities[1]!.name, identities[1]!.privateKey, 1_800_000_000)])
    }, 'witness-policy'],
    ['a receipt with a broken signature', (b) => { const [h, p, s] = b.messages[0]!.receipt.split('.'); b.messages[0]!.receipt = `${h}.${p}.${flip(s!)}` }, 'receipt-signature'],
    ["another message's receipt", (b) => { b.messages[0]!.receipt = b.messages[1]!.receipt }, 'receipt-binding'],
    ['a changed digest', (b) => { b.messages[0]!.digest = b.messages[1]!.digest }, 'receipt-binding'],
    ['a changed JWS', (b) => { const m = b.messages[withJws]!; const [h, p, s] = m.jws!.split('.'); m.jws = `${h}.${flip(p!, 20)}.${s}` }, 'jws-digest'],
    ['an edited event (outcome)', (b) => { b.events[0]!.line = editLine(b.events[0]!.line, { outcome: 'rejected' }) }, 'event-inclusion'],
    ['an event line not canonical', (b) => { b.events[0]!.line = b.events[0]!.line.replace('{', '{ ') }, 'event-line'],
    ['an event given another seq', (b) => { b.events[1]!.seq = b.events[0]!.seq }, 'event-line'],
    ['an event of another exchange', (b) => { b.events[0]!.line = editLine(b.events[0]!.line, { exchangeId: randomUUID() }) }, 'event-line'],
    ['an event not naming the party', (b) => { b.events[0]!.line = editLine(b.events[0]!.line, { agencies: ['ME-UP'] }) }, 'event-line'],
    ['a changed audit path', (b) => { const e = b.events.find((x) => x.auditPath.length > 0)!; e.auditPath[0] = Buffer.alloc(32, 1).toString('base64') }, 'event-inclusion'],
    ['an event beyond the checkpoint', (b) => { b.events[b.events.length - 1]!.seq = b.checkpoint.treeSize + 5; b.events[b.events.length - 1]!.line = editLine(b.events[b.events.length - 1]!.line, { seq: b.checkpoint.treeSize + 5 }) }, 'event-inclusion'],
  ]
  for (const [name, tamper, check, opts] of cases) {
    const bundle = structuredClone(good)
    tamper(bundle)
    const r = await verifyEvidence(bundle, { jwks: opts?.jwks ?? jwks, policy })
    t.match(r, { ok: false, check }, name)
  }
  // The CLI names the failing check and exits 1.
  const bad = structuredClone(good)
  bad.events[0]!.line = editLine(bad.events[0]!.line, { outcome: 'rejected' })
  const file = join(dir, 'tampered.json')
  writeFileSync(file, JSON.stringify(bad))
  t.equal(await evidenceCommand(['verify', file, '--jwks', jwksFile]), 1)
  t.equal(await evidenceCommand(['verify', join(dir, 'missing.json')]), 2, 'an unreadable file is a usage error')
})
