// Witnesses against a real leix on loopback: witnesses cosign only consistent growth, leix serves
// checkpoints with their cosignatures, `leix audit verify` holds a log to a k-of-n policy, and a
// log that the operator rewrote and re-signed with the broker key is caught by a witness, whose
// alarm leix records and shows on readiness.
import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { formatNote, logNoteKey, parseNote, parseVkey, cosign, signNoteText, formatVkey } from '../../src/audit/note.ts'
import { checkWitnessPolicy, witnessPolicy } from '../../src/audit/witness.ts'
import { alarmText } from '../../src/audit/witness-service.ts'
import { main } from '../../src/cli/main.ts'
import { runWitnessRound, witnessVkey, type WitnessConfig } from '../../src/cli/witness.ts'
import { ManualClock } from '../../src/config/clock.ts'
import { buildTestApp, databaseUrlAs, tokenFor } from '../helpers.ts'
import { brokerJwks, sendRequest, type AuditTestApp } from './fixtures.ts'

const auditCommand = (args: string[]): Promise<number> => main(['audit', ...args])
const witnessCommand = (args: string[]): Promise<number> => main(['witness', ...args])

const dir = mkdtempSync(join(tmpdir(), 'leix-witness-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const identities = [1, 2, 3].map((i) => ({ name: `witness${i}.example/leix`, privateKey: generateKeyPairSync('ed25519').privateKey }))
const vkeys = identities.map(witnessVkey)
const stranger = { name: 'stranger.example/leix', privateKey: generateKeyPairSync('ed25519').privateKey }

const { app, rt, clock, services, databaseUrl } = await buildTestApp(t, {
  clock: new ManualClock(new Date()),
  config: { origin: 'leix.test', witnesses: vkeys.join(',\n'), supervisors: ['EU-EUROPOL/auditor-1'] },
  workers: true, deliveryWorkers: false,
})
const audit = services.audit
await app.listen({ host: '127.0.0.1', port: 0 })
const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
const a: AuditTestApp = { app, rt, clock, audit, databaseUrl }
const jwks = await brokerJwks(app)
const jwksFile = join(dir, 'broker-jwks.json')
writeFileSync(jwksFile, JSON.stringify(jwks))
const logVkey = logNoteKey('leix.test', rt.brokerKey.publicJwk)

const witnessCfg = (i: number): WitnessConfig => ({
  url, identity: identities[i]!, logs: new Map([['leix.test', [logVkey]]]), statePath: join(dir, `state-${i}.json`), now: () => clock.now(),
})
// The whole-log reader is the oversight body's supervisor (LEIX_SUPERVISORS): it exports. Its
// every read is itself an event, so the other reads here are an agency officer's.
const supervisor = tokenFor(app, 'EU-EUROPOL', ['supervisor'], 'auditor-1')
const officer = tokenFor(app, 'AL-ASP', ['officer'])
const get = (path: string, token = officer) => app.inject({ method: 'GET', url: path, headers: { authorization: `Bearer ${token}` } })
const sealed = async (): Promise<number> => {
  const r = await audit.sealOnce()
  if (r.status !== 'sealed') throw new Error(`expected a seal, got ${r.status}`)
  return r.treeSize
}

await sendRequest(a)
const size1 = await sealed()

t.test('witnesses cosign, converge on one checkpoint, and leix serves the note with their cosignatures', async (t) => {
  t.equal((await app.inject('/v1/witness/log-key')).body.trim(), formatVkey(logVkey), 'leix publishes its note vkey')
  t.match(await runWitnessRound(witnessCfg(0)), { status: 'cosigned', treeSize: size1, previous: 0 })
  // A new checkpoint appears; the next witness within the round is still offered the cosigned one.
  await sendRequest(a)
  const size2 = await sealed()
  t.match(await runWitnessRound(witnessCfg(1)), { status: 'cosigned', treeSize: size1 }, 'witnesses converge on the checkpoint already cosigned')
  const latest = (await get(`/v1/audit/checkpoints/${size1}`)).json()
  t.same(latest.cosignatures.map((c: { witness: string }) => c.witness).sort(), [identities[0]!.name, identities[1]!.name])
  const policy = witnessPolicy(vkeys.map(parseVkey), 2)
  t.ok(checkWitnessPolicy(latest.note, [logVkey], policy).ok, 'the served note meets 2 of 3')
  const text = await app.inject('/v1/witness/checkpoint?witnesses=2')
  t.equal(text.headers['content-type'], 'text/plain; charset=utf-8')
  t.equal(text.body, latest.note, 'the plain text note endpoint serves the same signed note')
  t.equal((await app.inject('/v1/witness/checkpoint?witnesses=3')).statusCode, 404)
  const newest = (await get('/v1/audit/checkpoints/latest')).json()
  t.equal(newest.treeSize, size2)
  t.same(newest.cosignatures, [], 'the newest checkpoint is not cosigned yet')

  // Past the round window, the newest checkpoint is offered; the witness proves consistency from size1.
  clock.advance(60_000)
  await sendRequest(a)
  const size3 = await sealed()
  for (const i of [0, 1, 2]) t.match(await runWitnessRound(witnessCfg(i)), { status: 'cosigned', treeSize: size3 }, `witness ${i + 1} cosigns size ${size3}`)
  const state = JSON.parse(readFileSync(witnessCfg(0).statePath, 'utf8'))
  t.equal(state.state.treeSize, size3, 'the witness persisted the checkpoint it cosigned')
  t.equal((await app.inject('/health/ready')).json().checks.witness.ok, true)
})

t.test('leix refuses cosignatures and alarms that do not verify, and a witness ahead of the log', async (t) => {
  const cp = (await get('/v1/audit/checkpoints/latest')).json()
  const { text, signatures } = parseNote(cp.note)
  const broker = signatures[0]!.line
  const post = (path: string, body: string) => app.inject({ method: 'POST', url: path, headers: { 'content-type': 'text/plain' }, payload: body })
  const unixNow = Math.floor(clock.now().getTime() / 1000)
  const forged = cosign(text, identities[0]!.name, stranger.privateKey, unixNow)
  const otherRoot = `leix.test\n${cp.treeSize}\n${Buffer.alloc(32, 7).toString('base64')}\n`
  const cases: [string, string, number, string][] = [
    ['a cosignature by an unconfigured witness', formatNote(text, [broker, cosign(text, stranger.name, stranger.privateKey, unixNow)]), 403, 'unknown-witness'],
    ['a forged cosignature (configured name, other key)', formatNote(text, [broker, forged]), 403, 'unknown-witness'],
    ['a cosignature over another root', formatNote(otherRoot, [signNoteText(otherRoot, 'leix.test', rt.brokerKey.privateKey), cosign(otherRoot, identities[0]!.name, identities[0]!.privateKey, unixNow)]), 422, 'bad-witness-statement'],
    ['a note not signed by the broker', formatNote(text, [cosign(text, identities[0]!.name, identities[0]!.privateKey, unixNow)]), 422, 'bad-witness-statement'],
    ['garbage', 'hello', 422, 'bad-witness-statement'],
  ]
  for (const [name, body, status, code] of cases) {
    const res = await post('/v1/witness/cosignatures', body)
    t.equal(res.statusCode, status, name)
    t.equal(res.json().code, code, name)
  }
  // A configured witness's cosignature line with one flipped bit: it names a known key, so it must verify.
  const good = cosign(text, identities[2]!.name, identities[2]!.privateKey, unixNow)
  const flipped = good.replace(/ (\S+)\n$/, (_m, b64: string) => { const raw = Buffer.from(b64, 'base64'); raw[30] = (raw[30] ?? 0) ^ 1; return ` ${raw.toString('base64')}\n` })
  t.equal((await post('/v1/witness/cosignatures', formatNote(text, [broker, flipped]))).json().code, 'bad-witness-statement', 'a broken cosignature by a configured witness')

  const alarm = alarmText({ origin: 'leix.test', cosigned: { treeSize: 1, rootHash: cp.rootHash }, reason: 'test', time: unixNow })
  const alarms: [string, string, number][] = [
    ['an alarm by an unconfigured witness', formatNote(alarm, [signNoteText(alarm, stranger.name, stranger.privateKey)]), 403],
    ['an alarm under a configured name with another key', formatNote(alarm, [signNoteText(alarm, identities[0]!.name, stranger.privateKey)]), 403],
    ['an alarm that is not leix-witness-alarm/v1', formatNote('hello\n', [signNoteText('hello\n', identities[0]!.name, identities[0]!.privateKey)]), 422],
  ]
  for (const [name, body, status] of alarms) t.equal((await post('/v1/witness/alarms', body)).statusCode, status, name)
  t.same((await app.inject('/v1/witness/alarms')).json().items, [], 'no alarm was recorded')

  const ahead = await app.inject(`/v1/witness/add-checkpoint?old=${cp.treeSize + 5}`)
  t.equal(ahead.statusCode, 409)
  t.equal(ahead.json().code, 'witness-conflict')
  t.equal(ahead.json().treeSize, cp.treeSize)
})

t.test('witness route parameters are validated, each bad value a 400', async (t) => {
  const bad: [string, string][] = [
    ['/v1/witness/add-checkpoint', 'old is required'],
    ['/v1/witness/add-checkpoint?old=-1', 'negative'],
    ['/v1/witness/add-checkpoint?old=1.5', 'not an integer'],
    ['/v1/witness/add-checkpoint?old=abc', 'not a number'],
    ['/v1/witness/add-checkpoint?old=1&x=1', 'unknown parameter'],
    ['/v1/witness/checkpoint?witnesses=-1', 'negative'],
    ['/v1/witness/checkpoint?witnesses=65', 'too many'],
    ['/v1/audit/checkpoints/witnessed?from=0', 'from 0'],
    ['/v1/audit/checkpoints/witnessed?witnesses=x', 'not a number'],
    ['/v1/audit/checkpoints/witnessed?from=999999', 'from beyond the witnessed size'],
  ]
  for (const [path, why] of bad) {
    const res = await get(path)
    t.equal(res.statusCode, 400, `${path}: ${why}`)
    t.equal(res.json().code, 'bad-request', path)
  }
  t.equal((await app.inject('/v1/audit/checkpoints/witnessed')).statusCode, 401, 'the JSON view needs a token')
  t.equal((await get('/v1/audit/checkpoints/witnessed?from=2')).json().code, 'not-found', 'from must be a checkpoint size')
})

t.test('the leix witness command: keygen, log-vkey, and a run whose key leix does not know', async (t) => {
  const keyFile = join(dir, 'cli-witness.jwk')
  const out: string[] = []
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((chunk: string) => { out.push(String(chunk)); return write(chunk) }) as typeof process.stdout.write
  try {
    t.equal(await witnessCommand(['keygen', '--name', 'cli.example/w', '--out', keyFile]), 0)
    t.equal(await witnessCommand(['log-vkey', '--jwks', jwksFile, '--origin', 'leix.test']), 0)
  } finally {
    process.stdout.write = write
  }
  // Only the command's own lines (tap writes to stdout too).
  const [vkey, logKeyLine] = out.join('').split('\n').filter((l) => /^\S+\+[0-9a-f]{8}\+\S+$/.test(l))
  t.equal(parseVkey(vkey!).name, 'cli.example/w')
  t.equal(logKeyLine, formatVkey(logVkey), 'log-vkey derives the key leix publishes')
  t.equal(await witnessCommand(['keygen', '--name', 'cli.example/w', '--out', keyFile]), 2, 'an existing key file is not overwritten')
  t.equal(await witnessCommand(['keygen', '--name', 'has space']), 2)
  const run = ['run', '--url', url, '--key', keyFile, '--state', join(dir, 'cli-state.json'), '--log-vkey', logKeyLine!, '--once']
  t.equal(await witnessCommand(run), 1, 'leix refuses the cosignature of a witness not in LEIX_WITNESSES')
  t.equal(await witnessCommand(['run', '--url', url, '--key', keyFile, '--state', join(dir, 'x.json'), '--log-vkey', 'nonsense', '--once']), 2)
})

t.test('leix audit verify holds an export to a k-of-n witness policy', async (t) => {
  const exportFile = join(dir, 'export.ndjson')
  const res = await get('/v1/audit/export', supervisor)
  t.equal(res.statusCode, 200)
  writeFileSync(exportFile, res.body)
  const finalSize = (await get('/v1/audit/checkpoints/latest')).json().treeSize
  const witnessedFile = join(dir, 'witnessed.json')
  const witnessed = await get(`/v1/audit/checkpoints/witnessed?witnesses=2&from=${finalSize}`)
  t.equal(witnessed.statusCode, 200)
  writeFileSync(witnessedFile, witnessed.body)
  const keyArgs = vkeys.flatMap((v) => ['--witness-key', v])
  const verify = (...extra: string[]) => auditCommand(['verify', exportFile, '--jwks', jwksFile, '--quiet', ...extra])
  t.equal(await verify(...keyArgs, '--witness-threshold', '3', '--witnessed', witnessedFile), 0, '3 of 3')
  t.equal(await verify(...keyArgs, '--witness-threshold', '2', '--witnessed', witnessedFile), 0, '2 of 3')
  t.equal(await verify(...keyArgs, '--witness-threshold', '2'), 1, 'a policy without a witnessed checkpoint fails')
  const twoKeys = vkeys.slice(0, 2).flatMap((v) => ['--witness-key', v])
  t.equal(await verify(...twoKeys, '--witness-threshold', '2', '--witnessed', witnessedFile), 0, '2 of the 2 trusted')
  const strangerKey = ['--witness-key', witnessVkey(stranger)]
  t.equal(await verify(...strangerKey, '--witness-threshold', '1', '--witnessed', witnessedFile), 1, 'cosignatures by other witnesses do not count')
  t.equal(await verify(...keyArgs, '--witness-threshold', '4', '--witnessed', witnessedFile), 2, 'k > n is a usage error')
  t.equal(await verify(), 0, 'no policy: verified as before')
})

t.test('a log rewritten and re-signed with the broker key is caught by a witness, recorded and shown on readiness', async (t) => {
  // Everything sealed and cosigned by all three witnesses first.
  clock.advance(60_000)
  t.equal((await audit.sealOnce()).status, 'sealed')
  for (const i of [0, 1, 2]) t.match(await runWitnessRound(witnessCfg(i)), { status: 'cosigned' })
  const before = (await get('/v1/audit/checkpoints/latest')).json()
  t.equal(before.cosignatures.length, 3)
  const witnessedBefore = join(dir, 'witnessed-before.json')
  writeFileSync(witnessedBefore, (await get('/v1/audit/checkpoints/witnessed?witnesses=3')).body)
  // The operator, as database superuser, changes one sealed event and rebuilds and re-signs the whole log.
  const su = new pg.Client({ connectionString: databaseUrlAs(databaseUrl, 'admin') })
  await su.connect()
  await su.query('BEGIN')
  await su.query('SET LOCAL session_replication_role = replica')
  await su.query('DELETE FROM audit_cosignatures')
  await su.query('DELETE FROM audit_checkpoints')
  await su.query('DELETE FROM audit_nodes')
  await su.query("UPDATE audit_events SET event = jsonb_set(event, '{outcome}', '\"rejected\"') WHERE seq = 1")
  await su.query('UPDATE audit_events SET seq = NULL, line = NULL, leaf_hash = NULL')
  await su.query('UPDATE audit_state SET tree_size = 0, last_leaf = NULL, accumulator = \'{"size": 0, "stack": []}\'')
  await su.query('COMMIT')
  await su.end()
  const rewritten = await sealed()
  t.equal(rewritten, before.treeSize, 'the forged log has the same size')
  t.not((await get('/v1/audit/checkpoints/latest')).json().rootHash, before.rootHash, 'and another root, signed by the broker key')
  await sendRequest(a)
  await sealed()

  const r = await runWitnessRound(witnessCfg(0))
  t.match(r, { status: 'alarm', reported: true }, 'the witness refuses and reports')
  t.equal(JSON.parse(readFileSync(witnessCfg(0).statePath, 'utf8')).state.rootHash, before.rootHash, 'the witness keeps the root it cosigned')
  t.match(await runWitnessRound(witnessCfg(0)), { status: 'alarm', reported: false }, 'one contradiction is reported once')
  const alarms = (await app.inject('/v1/witness/alarms')).json().items
  t.equal(alarms.length, 1)
  t.match(alarms[0], { witness: identities[0]!.name, details: { cosignedSize: before.treeSize, cosignedRoot: before.rootHash } })
  const { rows } = await rt.pool.query("SELECT count(*)::int AS n FROM audit_events WHERE type = 'witness.alarm'")
  t.equal(rows[0].n, 1, 'recorded as the audit event witness.alarm')
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 503)
  t.match(ready.json().checks.witness.reason, new RegExp(`witness ${identities[0]!.name} raised an alarm`))

  // An auditor who kept the witnessed checkpoint catches the forged export as well.
  const exportFile = join(dir, 'forged.ndjson')
  writeFileSync(exportFile, (await get(`/v1/audit/export?to=${before.treeSize}`, supervisor)).body)
  const keyArgs = vkeys.flatMap((v) => ['--witness-key', v])
  t.equal(await auditCommand(['verify', exportFile, '--jwks', jwksFile, '--quiet']), 0, 'without witnesses the re-signed export verifies')
  t.equal(await auditCommand(['verify', exportFile, '--jwks', jwksFile, '--quiet', ...keyArgs, '--witness-threshold', '2', '--witnessed', witnessedBefore]), 1, 'against the witnessed checkpoint it fails')
  // And the forged log can no longer collect a quorum from witnesses that saw the real one.
  t.match(await runWitnessRound(witnessCfg(1)), { status: 'alarm' })
  t.match(await runWitnessRound(witnessCfg(2)), { status: 'alarm' })
})

t.test('a witness cosigning round trip on loopback (figure, not an assertion)', async (t) => {
  const cfg = { ...witnessCfg(0), statePath: join(dir, 'bench-state.json'), identity: identities[0]! }
  rmSync(cfg.statePath, { force: true })
  const times: number[] = []
  for (let i = 0; i < 100; i++) {
    if (i % 10 === 0) {
      await sendRequest(a)
      await sealed()
      clock.advance(60_000)
    }
    const started = performance.now()
    const r = await runWitnessRound(cfg)
    times.push(performance.now() - started)
    if (r.status !== 'cosigned') t.fail(`round ${i}: ${JSON.stringify(r)}`)
  }
  times.sort((x, y) => x - y)
  t.comment('witness round trip (GET add-checkpoint, verify signature and proof, cosign, fsync state, POST cosignature): ' +
    `median ${times[50]!.toFixed(2)} ms, p90 ${times[90]!.toFixed(2)} ms over 100 rounds`)
  t.pass('100 rounds cosigned')
})
