// `leix audit check` after a restore, in-process against a listening leix on loopback: a kept
// checkpoint (JWS, checkpoint JSON or signed note) that the served log extends passes; a log
// restored from before it, or rewritten since, fails; an unverifiable checkpoint is a usage error.
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkpointBody, signCheckpoint } from '../../src/audit/checkpoint.ts'
import { tokenFor } from '../helpers.ts'
import { auditTestApp, brokerJwks, sendRequest } from '../audit/fixtures.ts'
import { leix } from '../cli/run.ts'

const a = await auditTestApp(t)
const { app, rt, audit } = a
const dir = mkdtempSync(join(tmpdir(), 'leix-audit-check-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const file = (name: string, content: string): string => {
  const path = join(dir, name)
  writeFileSync(path, content)
  return path
}
const jwks = file('jwks.json', JSON.stringify(await brokerJwks(app)))
const token = tokenFor(app, 'RS-MUP')
const sealed = async (): Promise<number> => {
  const r = await audit.sealOnce()
  if (r.status !== 'sealed') throw new Error(`expected a seal, got ${r.status}`)
  return r.treeSize
}

await sendRequest(a, 'AL-ASP', 'RS-MUP')
const kept = await sealed()
const keptAnswer = (await app.inject({ url: `/v1/audit/checkpoints/${kept}`, headers: { authorization: `Bearer ${token}` } })).json()
await sendRequest(a, 'ME-UP', 'MK-MVR')
const newest = await sealed()

const base = await app.listen({ host: '127.0.0.1', port: 0 })
const check = (path: string, ...more: string[]) => leix(['audit', 'check', path, '--jwks', jwks, '--url', base, ...more], { LEIX_TOKEN: token })

t.test('a checkpoint the served log extends: continuous, exit 0', async (t) => {
  const jws = await check(file('kept.jws', keptAnswer.jws + '\n'))
  t.equal(jws.code, 0, jws.stderr)
  t.match(jws.stdout, `tree size ${newest}`)
  t.match(jws.stdout, `at size ${kept} unchanged`)
  t.equal((await check(file('kept.json', JSON.stringify(keptAnswer)))).code, 0, 'the JSON of a checkpoint answer')
  if (typeof keptAnswer.note === 'string') {
    t.equal((await check(file('kept.note', keptAnswer.note))).code, 0, 'the signed note')
  }
  const same = await check(file('newest.json', JSON.stringify({ checkpoint: { jws: await signCheckpoint(await latestBody(), rt.brokerKey) } })), '--json')
  t.equal(same.code, 0, same.stderr)
  t.match(JSON.parse(same.stdout), { ok: true, treeSize: newest, to: newest }, 'the newest checkpoint itself')
})

t.test('a log restored from before the kept checkpoint, or rewritten since: not continuous, exit 1', async (t) => {
  const ahead = checkpointBody('leix.test', newest + 5, Buffer.alloc(32, 7), new Date())
  const lost = await check(file('ahead.jws', await signCheckpoint(ahead, rt.brokerKey)))
  t.equal(lost.code, 1)
  t.match(lost.stderr, `no checkpoint of tree size ${newest + 5}`)
  const forged = checkpointBody('leix.test', kept, Buffer.alloc(32, 9), new Date())
  const rewritten = await check(file('forged.jws', await signCheckpoint(forged, rt.brokerKey)))
  t.equal(rewritten.code, 1)
  t.match(rewritten.stderr, 'the log was rewritten')
})

t.test('a checkpoint that does not verify, or no token: usage error, exit 2', async (t) => {
  const other = file('other-jwks.json', JSON.stringify({ keys: [] }))
  const r = await leix(['audit', 'check', file('k.jws', keptAnswer.jws), '--jwks', other, '--url', base], { LEIX_TOKEN: token })
  t.equal(r.code, 2)
  t.equal((await leix(['audit', 'check', file('k2.jws', keptAnswer.jws), '--jwks', jwks, '--url', base], {})).code, 2, 'no token')
  t.equal((await check(file('garbage', 'not a checkpoint'))).code, 2)
})

async function latestBody () {
  const res = await app.inject({ url: '/v1/audit/checkpoints/latest', headers: { authorization: `Bearer ${token}` } })
  const { origin, treeSize, rootHash, timestamp } = res.json()
  return { origin, treeSize, rootHash, timestamp }
}
