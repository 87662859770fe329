// `leix audit verify` through the CLI's main() on a real export from the server: the intact export
// verifies; each kind of tampering is detected, and the first bad event is named.
import t from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as jose from 'jose'
import { parseCheckpointUnverified, signCheckpoint } from '../../src/audit/checkpoint.ts'
import { checkpointLine } from '../../src/audit/export/format.ts'
import { tokenFor } from '../helpers.ts'
import { leix as run } from '../cli/run.ts'
import { auditTestApp, brokerJwks, sendRequest } from './fixtures.ts'

const dir = await mkdtemp(join(tmpdir(), 'leix-audit-cli-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))

const a = await auditTestApp(t, { config: { supervisors: ['EU-EUROPOL/auditor-1'] } })
// Five exchanges, sealed one by one: 15 events, checkpoints at 3, 6, 9, 12, 15.
const sizes: number[] = []
for (let i = 0; i < 5; i++) {
  await sendRequest(a, 'AL-ASP', i % 2 ? 'RS-MUP' : 'ME-UP')
  const r = await a.audit.sealOnce()
  if (r.status === 'sealed') sizes.push(r.treeSize)
}
// The whole log's export is a supervisor's (README.md "Route matrix").
const auditor = tokenFor(a.app, 'EU-EUROPOL', ['supervisor'], 'auditor-1')
const exported = await a.app.inject({ url: '/v1/audit/export', headers: { authorization: `Bearer ${auditor}` } })
if (exported.statusCode !== 200) throw new Error(exported.body)
const lines = exported.body.trimEnd().split('\n')
const jwksFile = join(dir, 'broker-jwks.json')
await writeFile(jwksFile, JSON.stringify(await brokerJwks(a.app)))
const earlyCheckpoint = (await a.app.inject({ url: `/v1/audit/checkpoints/${sizes[1]}`, headers: { authorization: `Bearer ${auditor}` } })).body

let files = 0
async function file (content: string[] | string): Promise<string> {
  const path = join(dir, `export-${files++}.ndjson`)
  await writeFile(path, Array.isArray(content) ? content.join('\n') + '\n' : content)
  return path
}

// An empty environment: verification needs no database, network or configuration.
const leix = (...args: string[]) => run(args, {})

const verify = async (path: string, ...more: string[]) => await leix('audit', 'verify', path, '--jwks', jwksFile, ...more)
const lineOf = (seq: number): number => lines.findIndex((l) => l.includes(`"seq":${seq},`))

t.test('the intact export verifies: exit 0', async (t) => {
  t.same(sizes, [3, 6, 9, 12, 15])
  const r = await verify(await file(lines))
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /^OK: 15 events, seq 0\.\.14, 5 checkpoint\(s\) verified; tree size 15, root \S+, origin leix\.test/)
  const withPrevious = await verify(await file(lines), '--previous', await file(earlyCheckpoint))
  t.equal(withPrevious.code, 0, withPrevious.stderr)
  t.match(withPrevious.stdout, /consistent with the previous checkpoint/)
})

t.test('an edited field is named by seq', async (t) => {
  const edited = [...lines]
  const i = lineOf(4)
  t.match(edited[i], /"outcome":"ok"/)
  edited[i] = edited[i]!.replace('"outcome":"ok"', '"outcome":"rejected"')
  const r = await verify(await file(edited))
  t.equal(r.code, 1)
  t.match(r.stderr, /^FAILED chain-broken at seq 4 \(line \d+\): seq 4 .* was altered/)

  const last = [...lines]
  const j = lineOf(14)
  last[j] = last[j]!.replace(/"at":"[^"]+"/, '"at":"2020-01-01T00:00:00.000Z"')
  const r2 = await verify(await file(last))
  t.equal(r2.code, 1)
  t.match(r2.stderr, /^FAILED root-mismatch at seq 12\.\.14 .*an event in seq 12\.\.14 was altered/, 'the last event has no successor: the root catches it')
})

t.test('a deleted event is named', async (t) => {
  const r = await verify(await file(lines.filter((_, i) => i !== lineOf(7))))
  t.equal(r.code, 1)
  t.match(r.stderr, /^FAILED seq-gap at seq 7 .*seq 7 missing/)
})

t.test('two swapped events are named', async (t) => {
  const swapped = [...lines]
  const [i, j] = [lineOf(6), lineOf(7)]
  ;[swapped[i], swapped[j]] = [swapped[j]!, swapped[i]!]
  const r = await verify(await file(swapped))
  t.equal(r.code, 1)
  t.match(r.stderr, /^FAILED seq-order at seq 6 .*reordered/)
})

t.test('a truncated file is detected', async (t) => {
  const cut = lines.join('\n')
  const r = await verify(await file(cut.slice(0, cut.indexOf(lines[lineOf(10)]!) + 40)))
  t.equal(r.code, 1)
  t.match(r.stderr, /^FAILED (truncated|not-canonical)/)
  const noTrailer = await verify(await file(lines.slice(0, -2)))
  t.equal(noTrailer.code, 1)
  t.match(noTrailer.stderr, /^FAILED truncated .*without its signed statement/)
})

t.test('a forged checkpoint is refused', async (t) => {
  // Someone rewrites event 14 and signs a new root with their own key under the broker's kid.
  const { payload } = parseCheckpointUnverified(JSON.parse(lines.at(-2)!).jws)
  const { privateKey } = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519' })
  const kid = (await brokerJwks(a.app)).keys[0]!.kid!
  const forged = [...lines]
  forged[forged.length - 2] = checkpointLine(await signCheckpoint({ ...payload, rootHash: Buffer.alloc(32, 7).toString('base64') }, { privateKey, kid }))
  const r = await verify(await file(forged))
  t.equal(r.code, 1)
  t.match(r.stderr, /^FAILED bad-checkpoint \(line \d+\): checkpoint on line \d+ refused \(bad-signature\)/)

  const prev = await verify(await file(lines), '--previous', await file(await signCheckpoint({ ...payload, treeSize: 6 }, { privateKey, kid })))
  t.equal(prev.code, 1)
  t.match(prev.stderr, /^FAILED bad-previous/)
})

t.test('usage errors exit 2; no database or network is needed', async (t) => {
  t.equal((await leix('audit', 'verify', await file(lines))).code, 2, 'no --jwks')
  const missing = await leix('audit', 'verify', join(dir, 'nope.ndjson'), '--jwks', jwksFile)
  t.equal(missing.code, 2)
  t.match(missing.stderr, /export .*nope\.ndjson/)
  t.equal((await leix('audit', 'verify', await file(lines), '--jwks', await file('not json'))).code, 2)
  const offline = await leix('audit', 'verify', await file(lines), '--jwks', jwksFile, '--json')
  t.equal(offline.code, 0)
  t.match(JSON.parse(offline.stdout), { ok: true, events: 15, treeSize: 15 })
  // --threads: any number of digest threads, none included, gives the same answer.
  for (const threads of ['0', '1', '3']) {
    const r = await leix('audit', 'verify', await file(lines), '--jwks', jwksFile, '--json', '--threads', threads)
    t.equal(r.code, 0, `--threads ${threads}`)
    t.same(JSON.parse(r.stdout), JSON.parse(offline.stdout))
  }
  for (const bad of ['-1', 'two', '100']) {
    const r = await leix('audit', 'verify', await file(lines), '--jwks', jwksFile, `--threads=${bad}`)
    t.equal(r.code, 2, `--threads ${bad}: a usage error`)
    t.match(r.stderr, /--threads must be a number of threads/)
  }
})
