import t from 'tap'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { isDeepStrictEqual } from 'node:util'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exportJWK, generateKeyPair, type JWK } from 'jose'
import { canonicalString } from '../../src/audit/canonical.ts'
import { checkpointBody, signCheckpoint, type CheckpointSigningKey } from '../../src/audit/checkpoint.ts'
import { VerificationError } from '../../src/errors.ts'
import { MerkleAccumulator } from '../../src/audit/merkle/compact.ts'
import { hashToBase64 } from '../../src/audit/merkle/hash.ts'
import { rangeProof, type NodeSource } from '../../src/audit/merkle/proof.ts'
import { checkpointLine, statementLine } from '../../src/audit/export/format.ts'
import { verifyExport as verifyLines, type VerifyOptions, type VerifyResult } from '../../src/audit/export/verify.ts'
import { exportLines } from '../../src/audit/export/write.ts'
import { sealEvent, sealEvents, type SealedEvent } from '../../src/audit/seal.ts'
import { verifyExportFile, type FileVerifyOptions } from '../../src/cli/export-file.ts'
import { signStatement, type ExportStatement } from '../../src/audit/statement.ts'

// Every export this file verifies from lines is verified from a file as well, its lines digested in
// blocks of whole lines (the way `leix audit verify` reads a large export, there on worker threads:
// the test at the end runs those), small blocks and large: each way must give exactly the same
// answer, failures named alike.
const filesDir = await mkdtemp(join(tmpdir(), 'leix-verify-file-'))
t.teardown(async () => { await rm(filesDir, { recursive: true, force: true }) })
let files = 0
const FILE_WAYS = [{ threads: 0 }, { threads: 0, chunkBytes: 700 }] as const

async function sameFromFile (file: string, expected: VerifyResult, opts: VerifyOptions, ways: ReadonlyArray<FileVerifyOptions> = FILE_WAYS): Promise<void> {
  for (const way of ways) {
    const fromFile = await verifyExportFile(file, jwks, { ...opts, ...way })
    if (!isDeepStrictEqual(fromFile, expected)) {
      throw new Error(`verifyExportFile (${JSON.stringify(way)}) answered ${JSON.stringify(fromFile)}, the lines ${JSON.stringify(expected)}`)
    }
  }
}

async function verifyExport (input: Parameters<typeof verifyLines>[0], keys: typeof jwks, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const result = await verifyLines(input, keys, opts)
  if (Array.isArray(input) && keys === jwks && opts.onProgress === undefined) {
    const bytes = (input as Array<string | Uint8Array>).map((l) => typeof l === 'string' ? Buffer.from(l) : Buffer.from(l))
    // A line holding "\n" is two lines in a file: not the same input.
    if (!bytes.some((b) => b.includes(0x0a))) {
      const file = join(filesDir, `export-${files++}.ndjson`)
      await writeFile(file, Buffer.concat(bytes.flatMap((b) => [b, Buffer.from('\n')])))
      await sameFromFile(file, result, opts)
    }
  }
  return result
}

const ORIGIN = 'https://leix.test/audit'
const T0 = Date.parse('2026-03-01T08:00:00Z')

async function brokerKey (kid: string): Promise<{ signing: CheckpointSigningKey, jwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
  const jwk = { ...(await exportJWK(publicKey)), kid, use: 'sig' }
  return { signing: { privateKey, kid }, jwk }
}

const key = await brokerKey('broker-2026')
const otherKey = await brokerKey('broker-2026') // same kid, different key: a forger
const strangerKey = await brokerKey('someone-else')
const jwks = { keys: [key.jwk] }

function makeEvents (n: number, tag = 'a'): Array<Record<string, unknown>> {
  return Array.from({ length: n }, (_, i) => ({
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    type: i % 3 === 0 ? 'message.received' : 'delivery.succeeded',
    at: new Date(T0 + i * 1000).toISOString(),
    messageId: `msg-${tag}-${Math.floor(i / 3)}`,
    agency: { from: 'RS-MUP', to: 'AL-ASP' },
    outcome: 'ok'
  }))
}

/** A sealed log with its node store and signed checkpoints at every size (the server's view). */
async function buildLog (events: Array<Record<string, unknown>>, signer = key.signing) {
  const sealed = sealEvents(events)
  const acc = new MerkleAccumulator()
  const nodes = new Map<string, Buffer>()
  const checkpoints: string[] = [''] // index = tree size
  for (const ev of sealed) {
    for (const node of acc.append(ev.leafHash)) nodes.set(`${node.level}:${node.index}`, node.hash)
    checkpoints.push(await signCheckpoint(checkpointBody(ORIGIN, acc.size, acc.root(), new Date(T0 + acc.size * 1000)), signer))
  }
  const src: NodeSource = async (level, index) => nodes.get(`${level}:${index}`) as Buffer
  return { sealed, acc, src, checkpoints }
}

const log = await buildLog(makeEvents(50))

const rootAt = (checkpoints: string[], size: number): string =>
  JSON.parse(Buffer.from((checkpoints[size] as string).split('.')[1] as string, 'base64url').toString('utf8')).rootHash

/** The broker's signed statement for an export of seq first..last of `log` (final checkpoint at last + 1). */
async function statementFor (first: number, last: number, o: Partial<ExportStatement> & { signer?: CheckpointSigningKey, checkpoints?: string[] } = {}): Promise<string> {
  const { signer, checkpoints, ...over } = o
  const body: ExportStatement = {
    origin: ORIGIN, from: null, to: null, firstSeq: first, lastSeq: last, events: last - first + 1, treeSize: last + 1,
    rootHash: rootAt(checkpoints ?? log.checkpoints, last + 1), timestamp: new Date(T0).toISOString(), ...over
  }
  return await signStatement(body, signer ?? key.signing)
}
/** An unsigned end line, as exports carried before statements: anyone can write one. */
const endLine = (events: number): string => canonicalString({ leix: 'end', events })

async function collect (gen: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = []
  for await (const line of gen) out.push(line)
  return out
}

const fullStatement = await statementFor(0, 49)
/** Full export 0..49 with interim checkpoints at 10, 20, 30, 40 and the covering one at 50. */
const fullExport = async (): Promise<string[]> => await collect(exportLines({
  events: log.sealed.map((e) => e.line),
  start: 0,
  end: 50,
  covering: log.checkpoints[50] as string,
  interim: [10, 20, 30, 40].map((s) => log.checkpoints[s] as string),
  statement: fullStatement
}))

const lineOf = (lines: string[], seq: number): number => lines.findIndex((l) => l.includes(`"seq":${seq},`)) + 1
const cpLineOf = (lines: string[], size: number): number => lines.indexOf(checkpointLine(log.checkpoints[size] as string)) + 1

/** The assertions `failed` uses, shared by the root test and subtests. */
type Assert = Pick<typeof t, 'equal' | 'fail' | 'type'>

function failed (t: Assert, r: VerifyResult, code: string, seq: number | undefined, line?: number): void {
  if (r.ok) { t.fail(`expected ${code}, export verified`); return }
  t.equal(r.code, code, r.reason)
  t.equal(r.seq, seq, `names seq ${String(seq)}: ${r.reason}`)
  if (line !== undefined) t.equal(r.line, line, 'names the line')
  t.type(r.reason, 'string')
}

/** Re-seals an event object from a sealed line with one field changed, keeping its seq and prev. */
function editLine (line: string, change: Record<string, unknown>): string {
  return canonicalString({ ...JSON.parse(line), ...change })
}

t.test('sealing', async (t) => {
  const a = sealEvent({ type: 'x', id: '1' }, 0, null)
  t.equal(a.line, '{"id":"1","prev":null,"seq":0,"type":"x"}')
  const b = sealEvent({ type: 'y' }, 1, a.leafHash)
  t.equal(JSON.parse(b.line).prev, hashToBase64(a.leafHash))
  const more = sealEvents([{ type: 'z' }], { seq: 1, leafHash: b.leafHash })
  t.equal((more[0] as SealedEvent).seq, 2)
  t.throws(() => sealEvent({ seq: 3 }, 0, null), VerificationError)
  t.throws(() => sealEvent({ prev: 'x' }, 0, null), { code: 'bad-event' })
  t.throws(() => sealEvent({ leix: 'end' }, 0, null), { code: 'bad-event' })
  t.throws(() => sealEvent({ a: 1 }, 1, null), { code: 'bad-event' })
  t.throws(() => sealEvent({ a: 1 }, 0, a.leafHash), { code: 'bad-event' })
  t.throws(() => sealEvent({ a: Number.NaN }, 0, null), { code: 'bad-event' })
})

t.test('a full export verifies, from lines and from a file', async (t) => {
  const lines = await fullExport()
  t.equal(lines.length, 50 + 4 + 1 + 1)
  t.equal(lines.at(-1), statementLine(fullStatement))
  const progress: number[] = []
  const r = await verifyExport(lines, jwks, { onProgress: (n) => progress.push(n), progressEvery: 20 })
  t.same(r, {
    ok: true, events: 50, first: 0, last: 49, treeSize: 50, rootHash: hashToBase64(log.acc.root()), checkpoints: 5, origin: ORIGIN,
    requested: { from: null, to: null }, exportedAt: new Date(T0).toISOString()
  })
  t.same(progress, [20, 40, 50])

  const dir = await mkdtemp(join(tmpdir(), 'leix-audit-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = join(dir, 'export.ndjson')
  const fromFile = async (): Promise<VerifyResult> => {
    // The file's lines, split on "\n" as bytes (a last line without its "\n" still counts).
    const lines = (await readFile(file)).toString('latin1').split('\n').map((l) => Buffer.from(l, 'latin1'))
    if (lines.at(-1)?.length === 0) lines.pop()
    const result = await verifyLines(lines, jwks)
    await sameFromFile(file, result, {})
    return result
  }
  await writeFile(file, lines.join('\n') + '\n')
  t.match(await fromFile(), { ok: true, events: 50, checkpoints: 5 })
  await writeFile(file, lines.join('\n')) // no final newline: still the same lines
  t.match(await fromFile(), { ok: true })
  await writeFile(file, lines.join('\r\n') + '\r\n')
  failed(t, await fromFile(), 'not-canonical', 0, 1)
  const bad = Buffer.from(lines.join('\n') + '\n')
  const line7 = Buffer.byteLength(lines.slice(0, lineOf(lines, 7) - 1).join('\n')) + 1
  bad[bad.indexOf('"outcome":"ok"', line7) + 12] = 0xff // invalid UTF-8 inside event 7
  await writeFile(file, bad)
  failed(t, await fromFile(), 'not-canonical', 7, lineOf(lines, 7))

  // Only the covering checkpoint: still fine.
  const minimal = await collect(exportLines({ events: log.sealed.map((e) => e.line), start: 0, end: 50, covering: log.checkpoints[50] as string, statement: fullStatement }))
  t.match(await verifyExport(minimal, jwks), { ok: true, checkpoints: 1 })
})

t.test('tampering is detected and the first bad event named', async (t) => {
  const lines = await fullExport()

  t.test('an edited field (chain names the edited event)', async (t) => {
    const l = lines.slice()
    const at = lineOf(l, 17)
    l[at - 1] = editLine(l[at - 1] as string, { outcome: 'refused' })
    failed(t, await verifyExport(l, jwks), 'chain-broken', 17, at)
  })

  t.test('the last event edited (no successor: the root names the span)', async (t) => {
    const l = lines.slice()
    l[lineOf(l, 49) - 1] = editLine(l[lineOf(l, 49) - 1] as string, { outcome: 'refused' })
    failed(t, await verifyExport(l, jwks), 'root-mismatch', 40, cpLineOf(l, 50))
  })

  t.test('an edit with the chain re-computed after it', async (t) => {
    const events = makeEvents(50)
    ;(events[17] as Record<string, unknown>).outcome = 'refused'
    const forged = sealEvents(events).map((e) => e.line)
    const l = lines.slice()
    for (let s = 0; s < 50; s++) l[lineOf(lines, s) - 1] = forged[s] as string
    const r = await verifyExport(l, jwks)
    failed(t, r, 'root-mismatch', 10, cpLineOf(lines, 20))
    t.match(r, { seqEnd: 19 })
  })

  t.test('a deleted event', async (t) => {
    const l = lines.slice()
    const at = lineOf(l, 23)
    l.splice(at - 1, 1)
    failed(t, await verifyExport(l, jwks), 'seq-gap', 23, at)
  })

  t.test('the first event deleted', async (t) => {
    failed(t, await verifyExport(lines.slice(1), jwks), 'seq-gap', 0, 1)
  })

  t.test('the last event deleted (before its checkpoint)', async (t) => {
    const l = lines.slice()
    l.splice(lineOf(l, 49) - 1, 1)
    failed(t, await verifyExport(l, jwks), 'seq-gap', 49)
  })

  t.test('two events swapped', async (t) => {
    const l = lines.slice()
    const a = lineOf(l, 30)
    const b = lineOf(l, 31)
    ;[l[a - 1], l[b - 1]] = [l[b - 1] as string, l[a - 1] as string]
    failed(t, await verifyExport(l, jwks), 'seq-order', 30, a)
  })

  t.test('a duplicated event', async (t) => {
    const l = lines.slice()
    const a = lineOf(l, 12)
    l.splice(a, 0, l[a - 1] as string)
    failed(t, await verifyExport(l, jwks), 'seq-order', 12, a + 1)
  })

  t.test('a re-serialised line', async (t) => {
    const l = lines.slice()
    const at = lineOf(l, 5)
    l[at - 1] = JSON.stringify(JSON.parse(l[at - 1] as string), null, 1).replace(/\n/g, '')
    failed(t, await verifyExport(l, jwks), 'not-canonical', 5, at)
    l[at - 1] = '{"seq": 5'
    failed(t, await verifyExport(l, jwks), 'not-canonical', 5, at)
  })

  t.test('a truncated file', async (t) => {
    failed(t, await verifyExport(lines.slice(0, -3), jwks), 'truncated', 48)
    failed(t, await verifyExport(lines.slice(0, -1), jwks), 'truncated', 49)
    const noCover = [...lines.slice(0, -2), statementLine(fullStatement)]
    failed(t, await verifyExport(noCover, jwks), 'truncated', 40)
    const l = [...lines.slice(0, -1), endLine(50)]
    failed(t, await verifyExport(l, jwks), 'truncated', 49, l.length)
    failed(t, await verifyExport([...lines, '{}'], jwks), 'bad-format', undefined, lines.length + 1)
  })

  t.test('a forged checkpoint', async (t) => {
    const forgedCp = await signCheckpoint(checkpointBody(ORIGIN, 50, log.acc.root(), new Date(T0)), otherKey.signing)
    const l = [...lines.slice(0, -2), checkpointLine(forgedCp), statementLine(fullStatement)]
    const r = await verifyExport(l, jwks)
    failed(t, r, 'bad-checkpoint', undefined, l.length - 1)
    t.match(r, { reason: /bad-signature/ })

    const stranger = await signCheckpoint(checkpointBody(ORIGIN, 50, log.acc.root(), new Date(T0)), strangerKey.signing)
    t.match(await verifyExport([...lines.slice(0, -2), checkpointLine(stranger), statementLine(fullStatement)], jwks), { ok: false, code: 'bad-checkpoint', reason: /unknown-key/ })

    // Payload edited (a different root for size 20), signature kept.
    const [h, p, s] = (log.checkpoints[20] as string).split('.') as [string, string, string]
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'))
    payload.rootHash = hashToBase64(Buffer.alloc(32, 7))
    const edited = `${h}.${Buffer.from(canonicalString(payload)).toString('base64url')}.${s}`
    const l2 = lines.slice()
    l2[cpLineOf(lines, 20) - 1] = checkpointLine(edited)
    t.match(await verifyExport(l2, jwks), { ok: false, code: 'bad-checkpoint', line: cpLineOf(lines, 20), reason: /bad-signature/ })

    // A genuine checkpoint of another log (same key): the root does not match these events.
    const other = await buildLog(makeEvents(50, 'b'))
    const l3 = lines.slice()
    l3[cpLineOf(lines, 30) - 1] = checkpointLine(other.checkpoints[30] as string)
    failed(t, await verifyExport(l3, jwks), 'root-mismatch', 20, cpLineOf(lines, 30))
  })

  t.test('misplaced checkpoints', async (t) => {
    const l = lines.slice()
    const at = cpLineOf(l, 20)
    const [cp] = l.splice(at - 1, 1)
    l.splice(lineOf(l, 25), 0, cp as string) // after seq 25 instead of after seq 19
    t.match(await verifyExport(l, jwks), { ok: false, code: 'bad-format' })
    t.match(await verifyExport([checkpointLine(log.checkpoints[1] as string), ...lines], jwks), { ok: false, code: 'bad-format', line: 1 })
  })
})

t.test('range export: seq 20..39, final checkpoint at 40', async (t) => {
  const nodes = await rangeProof(log.src, 20, 40, 40)
  const plan = {
    events: log.sealed.slice(20, 40).map((e) => e.line),
    start: 20,
    end: 40,
    covering: log.checkpoints[40] as string,
    interim: [30].map((s) => log.checkpoints[s] as string),
    rangeNodes: nodes,
    statement: await statementFor(20, 39, { from: '20', to: '40' })
  }
  const lines = await collect(exportLines(plan))
  t.match(lines[0], /^\{"end":40,"leix":"range","nodes":\[/)
  t.same(await verifyExport(lines, jwks), {
    ok: true, events: 20, first: 20, last: 39, treeSize: 40, rootHash: rootAt(log.checkpoints, 40), checkpoints: 2, origin: ORIGIN,
    requested: { from: '20', to: '40' }, exportedAt: new Date(T0).toISOString()
  })

  // Up to the head: 20..49 under checkpoint 50, still needs the left nodes.
  const toHead = await collect(exportLines({ events: log.sealed.slice(20).map((e) => e.line), start: 20, end: 50, covering: log.checkpoints[50] as string, rangeNodes: await rangeProof(log.src, 20, 50, 50), statement: await statementFor(20, 49) }))
  t.match(await verifyExport(toHead, jwks), { ok: true, first: 20, last: 49 })
  // 0..39 under checkpoint 50: the final checkpoint is not at the last event, which the statement requires.
  const prefix = await collect(exportLines({ events: log.sealed.slice(0, 40).map((e) => e.line), start: 0, end: 40, covering: log.checkpoints[50] as string, rangeNodes: await rangeProof(log.src, 0, 40, 50), statement: await statementFor(0, 39) }))
  t.match(await verifyExport(prefix, jwks), { ok: false, code: 'truncated', reason: /not at the last event/ })

  const lineOfR = (seq: number): number => lineOf(lines, seq)
  const l1 = lines.slice()
  l1[lineOfR(39) - 1] = editLine(l1[lineOfR(39) - 1] as string, { outcome: 'refused' })
  failed(t, await verifyExport(l1, jwks), 'root-mismatch', 30, lineOfR(39) + 1)
  const l2 = lines.slice()
  l2[lineOfR(25) - 1] = editLine(l2[lineOfR(25) - 1] as string, { outcome: 'refused' })
  failed(t, await verifyExport(l2, jwks), 'chain-broken', 25)
  const l3 = lines.slice()
  l3.splice(lineOfR(20) - 1, 1)
  failed(t, await verifyExport(l3, jwks), 'seq-gap', 20)
  const l4 = lines.slice()
  l4.splice(lineOfR(39) - 1, 1)
  failed(t, await verifyExport(l4, jwks), 'seq-gap', 39)

  // A forged proof node on the left: caught at the first interim checkpoint.
  const l6 = await collect(exportLines({ ...plan, rangeNodes: nodes.map((n, i) => i === 0 ? { ...n, hash: Buffer.alloc(32, 9) } : n) }))
  t.match(await verifyExport(l6, jwks), { ok: false, code: 'root-mismatch', seq: 20, seqEnd: 29, reason: /range proof/ })
  // Wrong shape.
  const header = JSON.parse(lines[0] as string)
  header.nodes.pop()
  failed(t, await verifyExport([canonicalString(header), ...lines.slice(1)], jwks), 'bad-proof', undefined, 1)
  // A partial export without its header.
  failed(t, await verifyExport(lines.slice(1), jwks), 'seq-gap', 0, 1)
  // The statement names the range asked: an export that does not start where asked is refused.
  const wrongFrom = await collect(exportLines({ ...plan, statement: await statementFor(20, 39, { from: '10' }) }))
  t.match(await verifyExport(wrongFrom, jwks), { ok: false, code: 'bad-statement', reason: /asked from seq 10/ })
  const wrongTo = await collect(exportLines({ ...plan, statement: await statementFor(20, 39, { to: '39' }) }))
  t.match(await verifyExport(wrongTo, jwks), { ok: false, code: 'bad-statement', reason: /up to seq 39/ })
  t.rejects(collect(exportLines({ ...plan, rangeNodes: undefined })), { code: 'bad-export' })
  t.rejects(collect(exportLines({ ...plan, interim: [log.checkpoints[10] as string] })), { code: 'bad-export' })
})

t.test('the signed statement makes a cut export detectable with the file alone', async (t) => {
  const lines = await fullExport()
  const cut = lines.slice(0, cpLineOf(lines, 30)) // up to and including the interim checkpoint at 30

  // The attack of the issue: cut after an interim checkpoint, append an end line.
  failed(t, await verifyExport([...cut, endLine(30)], jwks), 'truncated', 29, cut.length + 1)
  // ... or the full export's genuine statement: it names 50 events.
  t.match(await verifyExport([...cut, statementLine(fullStatement)], jwks), { ok: false, code: 'truncated', seq: 30, seqEnd: 49 })
  // ... or a statement signed by someone else, or for another log, or with a checkpoint's typ.
  const forged = await statementFor(0, 29, { signer: otherKey.signing })
  t.match(await verifyExport([...cut, statementLine(forged)], jwks), { ok: false, code: 'bad-statement', reason: /bad-signature/ })
  const stranger = await statementFor(0, 29, { signer: strangerKey.signing })
  t.match(await verifyExport([...cut, statementLine(stranger)], jwks), { ok: false, code: 'bad-statement', reason: /unknown-key/ })
  const elsewhere = await statementFor(0, 29, { origin: 'https://other.test' })
  t.match(await verifyExport([...cut, statementLine(elsewhere)], jwks), { ok: false, code: 'bad-statement', reason: /other\.test/ })
  t.match(await verifyExport([...cut, statementLine(log.checkpoints[30] as string)], jwks), { ok: false, code: 'bad-statement', reason: /bad-header/ })
  // A statement whose root is not the final checkpoint's.
  const otherRoot = await statementFor(0, 29, { rootHash: hashToBase64(Buffer.alloc(32, 3)) })
  t.match(await verifyExport([...cut, statementLine(otherRoot)], jwks), { ok: false, code: 'bad-statement', reason: /root/ })
  // A statement with an inner contradiction is refused however it is signed.
  const contradiction = await statementFor(0, 29).then((jws) => {
    const [h, , sig] = jws.split('.')
    const body = { ...JSON.parse(Buffer.from(jws.split('.')[1] as string, 'base64url').toString('utf8')), events: 31 }
    return `${h as string}.${Buffer.from(canonicalString(body)).toString('base64url')}.${sig as string}`
  })
  t.match(await verifyExport([...cut, statementLine(contradiction)], jwks), { ok: false, code: 'bad-statement' })
  // A statement the broker really signed for exactly this cut is a complete export of 0..29.
  t.match(await verifyExport([...cut, statementLine(await statementFor(0, 29))], jwks), { ok: true, events: 30, last: 29 })
  // Two statements, or anything after the statement.
  failed(t, await verifyExport([...lines, lines.at(-1) as string], jwks), 'bad-format', undefined, lines.length + 1)
})

t.test('every cut, deletion, swap and edit of the export is refused (table)', async (t) => {
  const lines = await fullExport()
  const cases: Array<[string, string[]]> = []
  for (let i = 1; i < lines.length; i++) cases.push([`cut after line ${i}`, lines.slice(0, i)])
  const interim = new Set([10, 20, 30, 40].map((size) => cpLineOf(lines, size) - 1))
  for (let i = 0; i < lines.length; i++) {
    // Interim checkpoints are optional (they only localise damage): without one, nothing is lost.
    if (interim.has(i)) t.match(await verifyExport(lines.filter((_, k) => k !== i), jwks), { ok: true }, `interim checkpoint on line ${i + 1} dropped: still complete`)
    else cases.push([`line ${i + 1} deleted`, lines.filter((_, k) => k !== i)])
  }
  for (let i = 0; i + 1 < lines.length; i++) {
    const l = lines.slice()
    ;[l[i], l[i + 1]] = [l[i + 1] as string, l[i] as string]
    cases.push([`lines ${i + 1} and ${i + 2} swapped`, l])
  }
  for (let i = 0; i < lines.length; i++) {
    const l = lines.slice()
    const v = JSON.parse(l[i] as string)
    if (v.leix === undefined) v.outcome = 'denied'
    else v.jws = (v.jws as string).slice(0, -2) + ((v.jws as string).endsWith('AA') ? 'BB' : 'AA')
    l[i] = canonicalString(v)
    cases.push([`line ${i + 1} edited`, l])
  }
  for (let i = 0; i < lines.length; i++) cases.push([`line ${i + 1} duplicated`, [...lines.slice(0, i + 1), ...lines.slice(i)]])
  let refused = 0
  for (const [name, l] of cases) {
    const r = await verifyExport(l, jwks)
    if (r.ok) t.fail(`${name}: verified`)
    else refused++
  }
  t.equal(refused, cases.length, `all ${cases.length} altered exports refused`)
})

t.test('consistency with a previously trusted checkpoint', async (t) => {
  const lines = await fullExport()
  for (const size of [0, 1, 20, 33, 50]) {
    const previous = size === 0
      ? await signCheckpoint(checkpointBody(ORIGIN, 0, new MerkleAccumulator().root(), new Date(T0)), key.signing)
      : log.checkpoints[size] as string
    t.match(await verifyExport(lines, jwks, { previous }), { ok: true }, `previous at size ${size}`)
  }
  // The same broker key signed a different history at size 20: the log was rewritten.
  const fork = await buildLog([...makeEvents(19), { id: 'x', type: 'payload.erased' }])
  const r = await verifyExport(lines, jwks, { previous: fork.checkpoints[20] as string })
  t.match(r, { ok: false, code: 'inconsistent', seq: 19 })
  // Newer than the export: cannot be checked, so not accepted.
  const longer = await buildLog(makeEvents(60))
  t.match(await verifyExport(lines, jwks, { previous: longer.checkpoints[55] as string }), { ok: false, code: 'inconsistent' })
  // A range export proves sizes 20..50.
  const range = await collect(exportLines({
    events: log.sealed.slice(20, 50).map((e) => e.line), start: 20, end: 50,
    covering: log.checkpoints[50] as string, rangeNodes: await rangeProof(log.src, 20, 50, 50), statement: await statementFor(20, 49)
  }))
  for (const size of [20, 27, 40, 50]) {
    t.match(await verifyExport(range, jwks, { previous: log.checkpoints[size] as string }), { ok: true }, `range, previous at ${size}`)
  }
  t.match(await verifyExport(range, jwks, { previous: log.checkpoints[10] as string }), { ok: false, code: 'inconsistent' })
  t.match(await verifyExport(range, jwks, { previous: fork.checkpoints[20] as string }), { ok: false, code: 'inconsistent' })
  // Another origin, or a previous checkpoint that does not verify.
  const elsewhere = await signCheckpoint(checkpointBody('https://other.test', 20, log.acc.root(), new Date(T0)), key.signing)
  t.match(await verifyExport(lines, jwks, { previous: elsewhere }), { ok: false, code: 'inconsistent' })
  const forged = await signCheckpoint(checkpointBody(ORIGIN, 20, log.acc.root(), new Date(T0)), otherKey.signing)
  t.match(await verifyExport(lines, jwks, { previous: forged }), { ok: false, code: 'bad-previous', line: 0 })
})

t.test('odd inputs', async (t) => {
  failed(t, await verifyExport([statementLine(await statementFor(0, 0))], jwks), 'empty', undefined, 1)
  failed(t, await verifyExport([endLine(0)], jwks), 'truncated', undefined, 1)
  failed(t, await verifyExport([], jwks), 'truncated', undefined, 0)
  failed(t, await verifyExport(['[1,2]'], jwks), 'bad-event', 0, 1)
  failed(t, await verifyExport(['{"leix":"nope"}'], jwks), 'bad-format', undefined, 1)
  failed(t, await verifyExport(['{"id":"x","prev":"AAAA","seq":0}'], jwks), 'chain-broken', 0, 1)
  const sealed = sealEvents(makeEvents(3))
  failed(t, await verifyExport([...sealed.map((e) => e.line), endLine(3)], jwks), 'truncated', 2)
  await t.rejects(verifyExport([], { keys: 'nope' } as unknown as { keys: JWK[] }), { code: 'bad-jwks' })
})

t.test('streams a large export (20 000 events) from an async source', async (t) => {
  const n = 20_000
  const acc = new MerkleAccumulator()
  const cps = new Map<number, string>()
  let prev: SealedEvent | undefined
  const lines: string[] = []
  for (let i = 0; i < n; i++) {
    prev = sealEvent({ type: 'message.consulted', i }, i, prev?.leafHash ?? null)
    lines.push(prev.line)
    acc.append(prev.leafHash)
    if (acc.size % 5000 === 0) cps.set(acc.size, await signCheckpoint(checkpointBody(ORIGIN, acc.size, acc.root(), new Date(T0)), key.signing))
  }
  async function * events (): AsyncGenerator<string> {
    for (const line of lines) { await Promise.resolve(); yield line }
  }
  const cpList: string[] = []
  cpList[n] = cps.get(n) as string
  const statement = await statementFor(0, n - 1, { checkpoints: cpList })
  const exported = exportLines({ events: events(), start: 0, end: n, covering: cps.get(n) as string, interim: [5000, 10000, 15000].map((s) => cps.get(s) as string), statement })
  const seen: number[] = []
  const r = await verifyExport(exported, jwks, { onProgress: (k) => seen.push(k) })
  t.match(r, { ok: true, events: n, checkpoints: 4 })
  t.same(seen, [10000, 20000])
})

t.test('every non-canonical spelling of an event line is refused and named (table)', async (t) => {
  const lines = await fullExport()
  const at = lineOf(lines, 5)
  // Seq 5 edited to hold what the variants re-spell (an accented letter, a slash, a number): the
  // canonical edit itself only breaks the chain, so a "not-canonical" answer below is the form check's.
  const base = editLine(lines[at - 1] as string, { note: 'café/ü', count: 100 })
  const edited = lines.slice()
  edited[at - 1] = base
  failed(t, await verifyExport(edited, jwks), 'chain-broken', 5, at)
  const reordered = (text: string): string => JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(text) as object).reverse()))
  const variants: Array<[string, (text: string) => string]> = [
    ['keys in reverse order', reordered],
    ['a space after a colon', (s) => s.replace('":', '": ')],
    ['a space before the closing brace', (s) => `${s.slice(0, -1)} }`],
    ['a tab between members', (s) => s.replace(',"', ',\t"')],
    ['a space after the opening brace', (s) => `{ ${s.slice(1)}`],
    ['1e2 for 100', (s) => s.replace('"count":100', '"count":1e2')],
    ['1E2 for 100', (s) => s.replace('"count":100', '"count":1E2')],
    ['100.0 for 100', (s) => s.replace('"count":100', '"count":100.0')],
    ['1.0e2 for 100', (s) => s.replace('"count":100', '"count":1.0e2')],
    ['5.0 for the seq', (s) => s.replace('"seq":5', '"seq":5.0')],
    ['5e0 for the seq', (s) => s.replace('"seq":5', '"seq":5e0')],
    ['\\u00e9 for é', (s) => s.replace('é', '\\u00e9')],
    ['\\u00E9 for é', (s) => s.replace('é', '\\u00E9')],
    ['\\u00fc for ü', (s) => s.replace('ü', '\\u00fc')],
    ['\\/ for /', (s) => s.replace('/', '\\/')],
    ['\\u0063 for c', (s) => s.replace('café', '\\u0063afé')],
    ['a duplicate key (the later one wins)', (s) => s.replace('"outcome":"ok"', '"outcome":"no","outcome":"ok"')],
  ]
  for (const [what, respell] of variants) {
    const text = respell(base)
    t.not(text, base, `${what}: a different spelling`)
    t.same(JSON.parse(text), JSON.parse(base), `${what}: the same JSON value`)
    const l = lines.slice()
    l[at - 1] = text
    failed(t, await verifyExport(l, jwks), 'not-canonical', 5, at)
    // As bytes too, as `leix audit verify` reads a file.
    failed(t, await verifyExport(l.map((x) => Buffer.from(x, 'utf8')), jwks), 'not-canonical', 5, at)
  }
})

t.test('on worker threads: the same answers, and an early failure stops the reading and the workers', async (t) => {
  const lines = await fullExport()
  const at = (seq: number): number => lineOf(lines, seq) - 1
  const invalidUtf8 = Buffer.from(lines[at(7)] as string)
  invalidUtf8[invalidUtf8.indexOf('"outcome":"ok"') + 12] = 0xff
  const variants: Array<[string, Array<string | Uint8Array>]> = [
    ['the whole export', lines],
    ['an edited field', lines.map((l, i) => i === at(17) ? editLine(l, { outcome: 'refused' }) : l)],
    ['a deleted event', lines.filter((_, i) => i !== at(23))],
    ['two events swapped', lines.map((l, i) => i === at(30) ? lines[at(31)] as string : i === at(31) ? lines[at(30)] as string : l)],
    ['invalid UTF-8 in an event', lines.map((l, i) => i === at(7) ? invalidUtf8 : l)],
    ['re-serialised with spaces', lines.map((l, i) => i === at(12) ? JSON.stringify(JSON.parse(l), null, 1).replaceAll('\n', '') : l)],
    ['an empty line', [...lines.slice(0, at(40)), '', ...lines.slice(at(40))]],
    ['cut before the statement', lines.slice(0, -1)],
  ]
  for (const [what, variant] of variants) {
    const file = join(filesDir, `threads-${files++}.ndjson`)
    await writeFile(file, Buffer.concat(variant.flatMap((l) => [Buffer.from(l), Buffer.from('\n')])))
    const expected = await verifyLines(variant, jwks)
    for (const way of [{ threads: 1 }, { threads: 3, chunkBytes: 700 }, { threads: 2, chunkBytes: 1 }]) {
      t.same(await verifyExportFile(file, jwks, way), expected, `${what}: ${JSON.stringify(way)} ${expected.ok ? 'verifies' : `fails: ${expected.code}`}`)
    }
  }
  // A large file failing on its first line: the answer comes without reading the rest.
  const big = join(filesDir, 'big.ndjson')
  await writeFile(big, 'not json\n' + `${lines.join('\n')}\n`.repeat(2000))
  const started = performance.now()
  t.match(await verifyExportFile(big, jwks, { threads: 2, chunkBytes: 4096 }), { ok: false, code: 'not-canonical', line: 1 })
  t.comment(`answered in ${Math.round(performance.now() - started)} ms`)
})
