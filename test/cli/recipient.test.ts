// Both sides of an exchange from the CLI, in-process against leix on loopback: AL-ASP sends, RS-MUP's
// system reads its inbox, replies and acknowledges, both read notifications, an event of the exchange
// is proven, and a pushed delivery's signature is checked from files.
import t from 'tap'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { signDelivery } from '../../src/delivery/signature.ts'
import { digestOf } from '../../src/intake/receipt.ts'
import { buildTestApp, requestMessage, tokenFor } from '../helpers.ts'
import { leix } from './run.ts'

const { app, clock, services, rt } = await buildTestApp(t)
const url = await app.listen({ port: 0, host: '127.0.0.1' })
const dir = mkdtempSync(join(tmpdir(), 'leix-recipient-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const f = (name: string) => join(dir, name)
const devKey = (agency: string) => new URL(`../../config/dev/agencies/${agency}.DEV-ONLY.private.jwk.json`, import.meta.url).pathname
const AL = { LEIX_URL: url, LEIX_TOKEN: tokenFor(app, 'AL-ASP') }
const RS = { LEIX_URL: url, LEIX_TOKEN: tokenFor(app, 'RS-MUP', ['system']) }

const request = requestMessage(clock)
writeFileSync(f('request.json'), JSON.stringify(request))
const sent = await leix(['send', f('request.json'), '--key', devKey('AL-ASP'), '--save-jws', f('sent.jws')], AL)
const answer = JSON.parse(sent.stdout) as { exchangeId: string; messageId: string }

t.test('the recipient: inbox (saving the JWS), reply, ack', async (t) => {
  t.equal(sent.code, 0, sent.stderr)
  const inbox = await leix(['inbox', '--save', f('inbox')], RS)
  t.equal(inbox.code, 0, inbox.stderr)
  t.match(inbox.stdout, new RegExp(`${request.id}  request +AL-ASP -> RS-MUP  exchange ${answer.exchangeId}`))
  t.same(readdirSync(f('inbox')), [`${request.id}.jws`])

  const badKind = await leix(['reply', f(`inbox/${request.id}.jws`), '--kind', 'answer', '--officer', 'rs-officer-9'], RS)
  t.equal(badKind.code, 2)
  t.match(badKind.stderr, '--kind must be response, refusal, clarification, delay-notice or correction')

  const draft = await leix(['reply', f(`inbox/${request.id}.jws`), '--kind', 'clarification', '--officer', 'rs-officer-9', '--dry-run'], RS)
  t.equal(draft.code, 0, draft.stderr)
  t.match(JSON.parse(draft.stdout), { kind: 'clarification', inReplyTo: request.id, from: { agency: 'RS-MUP', officer: 'rs-officer-9' }, to: { agency: 'AL-ASP' }, caseRef: request.caseRef })
  t.equal((await leix(['reply', f(`inbox/${request.id}.jws`), '--kind', 'refusal', '--officer', 'x', '--dry-run'], RS)).code, 2, 'a refusal needs its ground')

  t.equal((await leix(['ack', request.id], RS)).code, 0, 'acknowledged')
  t.match((await leix(['status', answer.exchangeId], AL)).stdout, /status +acknowledged/)
  t.equal((await leix(['inbox'], RS)).stdout, 'inbox empty\n')

  const response = await leix(['reply', f(`inbox/${request.id}.jws`), '--kind', 'response', '--key', devKey('RS-MUP'), '--officer', 'rs-officer-9',
    '--text', 'The vehicle is registered to the subject.', '--save-jws', f('reply.jws')], RS)
  t.equal(response.code, 0, response.stderr)
  const replied = JSON.parse(response.stdout) as { exchangeId: string; messageId: string; receipt: string }
  t.equal(replied.exchangeId, answer.exchangeId, 'in the same exchange')
  writeFileSync(f('reply-answer.json'), response.stdout)
  t.match((await leix(['receipt', 'verify', f('reply-answer.json'), '--jws', f('reply.jws')], RS)).stdout, /receipt valid/)
  t.match((await leix(['status', answer.exchangeId], AL)).stdout, /status +answered/)
  t.equal((await leix(['ack', '00000000-0000-4000-8000-000000000000'], RS)).code, 1, 'a message it never received')
  // Q3: the provider asks where the data of its response went; the requester may not.
  const lineage = await leix(['lineage', replied.messageId], RS)
  t.equal(lineage.code, 0, lineage.stderr)
  t.match(lineage.stdout, `message ${replied.messageId}  provider RS-MUP  exchange ${answer.exchangeId}\nderived 0 message(s) in 0 exchange(s)\n`)
  t.same(JSON.parse((await leix(['lineage', replied.messageId, '--json'], RS)).stdout).derived, [])
  t.equal((await leix(['lineage', replied.messageId], AL)).code, 1, 'Q3: not for the recipient')
})

t.test('notifications and proofs', async (t) => {
  const notes = await leix(['notifications', '--after', '0'], AL)
  t.equal(notes.code, 0, notes.stderr)
  t.match(notes.stdout, /^(no notifications\n|[\s\S]*next: --after \d+\n)$/)
  t.equal((await leix(['notifications', '--json'], AL)).code, 0)

  await services.audit.sealOnce()
  const detail = JSON.parse((await leix(['status', answer.exchangeId, '--json'], AL)).stdout) as { timeline: { seq: number | null }[] }
  const seq = detail.timeline.find((e) => typeof e.seq === 'number')?.seq
  t.type(seq, 'number')
  const proven = await leix(['proof', String(seq), '--out', f('proof.json')], AL)
  t.equal(proven.code, 0, proven.stderr)
  t.match(proven.stdout, new RegExp(`proof valid: seq ${seq} \\(.+\\) is in the tree of size \\d+\\ncheckpoint .+ signed by ${rt.brokerKey.kid}`))
  writeFileSync(f('other.jwks.json'), JSON.stringify({ keys: [{ ...rt.brokerKey.publicJwk, kid: 'not-the-broker' }] }))
  const wrongKeys = await leix(['proof', String(seq), '--jwks', f('other.jwks.json')], AL)
  t.equal(wrongKeys.code, 1)
  t.match(wrongKeys.stderr, /proof INVALID \(unknown-key\)/)
  t.equal((await leix(['proof', 'x'], AL)).code, 2)
  t.equal((await leix(['proof', '999999'], AL)).code, 1, 'an event it cannot see')
})

t.test('delivery verify: a pushed delivery checked from files', async (t) => {
  const body = readFileSync(f('sent.jws'), 'utf8')
  const signature = signDelivery({
    messageId: answer.messageId, exchangeId: answer.exchangeId, sender: 'AL-ASP', recipient: 'RS-MUP', kind: 'request',
    digest: digestOf(body.trim()), attempt: 2, sentAt: clock.now().toISOString(),
  }, rt.brokerKey)
  writeFileSync(f('signature.txt'), signature + '\n')
  const ok = await leix(['delivery', 'verify', f('signature.txt'), '--body', f('sent.jws'), '--recipient', 'RS-MUP'], RS)
  t.equal(ok.code, 0, ok.stderr)
  t.match(ok.stdout, `delivery signature valid: request ${answer.messageId} AL-ASP -> RS-MUP, attempt 2`)
  writeFileSync(f('other.jws'), body.trim().replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')))
  const other = await leix(['delivery', 'verify', signature, '--body', f('other.jws')], RS)
  t.equal(other.code, 1)
  t.match(other.stderr, /INVALID \(digest-mismatch\)/)
  t.match((await leix(['delivery', 'verify', signature, '--recipient', 'ME-UP'], RS)).stderr, /wrong-recipient/)
})
