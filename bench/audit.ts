// Audit log at a year's scale: 1,000,000 generated events sealed exactly as the sealer seals them,
// written as an export with checkpoints, then (1) offline verification speed, (2) inclusion-proof
// latency over the tree nodes stored in a fresh PostgreSQL database, direct and over HTTP.
// Figures, not assertions. Cleans up its database and temp files.
import { randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { buildApp } from '../src/app.ts'
import { checkpointBody, parseCheckpointUnverified, signCheckpoint } from '../src/audit/checkpoint.ts'
import { MerkleAccumulator } from '../src/audit/merkle/compact.ts'
import { hashToBase64 } from '../src/audit/merkle/hash.ts'
import { inclusionProof, type NodeSource } from '../src/audit/merkle/proof.ts'
import { verifyInclusion } from '../src/audit/merkle/verify.ts'
import { startServices } from '../src/background.ts'
import { storedInclusionProof } from '../src/audit/store.ts'
import { LogWalker } from '../src/audit/self-check.ts'
import { signStatement } from '../src/audit/statement.ts'
import { checkpointLine, statementLine } from '../src/audit/export/format.ts'
import { sealEvent } from '../src/audit/seal.ts'
import { defaultVerifyThreads, verifyExportFile } from '../src/cli/export-file.ts'
import { loadConfig } from '../src/config/config.ts'
import { createRuntime } from '../src/runtime.ts'
import { createPool } from '../src/store/db.ts'
import { migrate } from '../src/store/migrations.ts'

const ADMIN = process.env.LEIX_BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const ORIGIN = 'leix.bench'
const AGENCIES = ['AL-ASP', 'RS-MUP', 'ME-UP', 'MK-MVR', 'BA-DKPT', 'XK-KP', 'DE-BKA', 'AT-BK']
const TYPES = ['message.received', 'message.accepted', 'exchange.opened', 'delivery.attempted', 'delivery.succeeded', 'message.acknowledged', 'message.consulted', 'exchange.answered']
/** A year of events, evenly spread: about 31.5 s apart. */
const YEAR_MS = 365 * 86400_000

/** An event shaped like recordEvent's (ids, agencies, digests; no personal data). */
function generatedEvent (i: number, t0: number, n: number): Record<string, unknown> {
  const from = AGENCIES[i % AGENCIES.length] as string
  const to = AGENCIES[(i + 3) % AGENCIES.length] as string
  return {
    id: randomUUID(),
    at: new Date(t0 + Math.floor((i * YEAR_MS) / n)).toISOString(),
    type: TYPES[i % TYPES.length],
    actor: { kind: 'agency-system', agency: from, id: `officer-${i % 997}`, kid: `${from}-2026-01` },
    exchangeId: randomUUID(),
    messageId: randomUUID(),
    agencies: [from, to],
    legalBasis: 'PCC-SEE',
    digest: Buffer.alloc(32, i % 251).toString('base64url'),
    outcome: 'ok',
    details: { kind: 'request', attempt: 1 + (i % 3) },
  }
}

function percentile (sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return Math.round((sorted[i] as number) * 1000) / 1000
}

async function timed<T> (fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now()
  const value = await fn()
  return [value, performance.now() - start]
}

export async function benchAudit (opts: { events?: number; checkpointEvery?: number; samples?: number; verifyThreads?: number } = {}): Promise<Record<string, number | string>> {
  const n = opts.events ?? 1_000_000
  const every = opts.checkpointEvery ?? 10_000
  const samples = opts.samples ?? 1000
  const dir = await mkdtemp(join(tmpdir(), 'leix-bench-audit-'))
  const dbName = `leix_bench_audit_${randomUUID().slice(0, 8)}`
  const admin = new pg.Client({ connectionString: ADMIN })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${dbName}`)
  const url = new URL(ADMIN)
  url.pathname = `/${dbName}`
  const databaseUrl = url.toString()
  const config = loadConfig({}, {
    databaseUrl, redisUrl: REDIS, devKeys: true, logLevel: 'silent', origin: ORIGIN, port: 0,
    queuePrefix: `leixbench-${randomUUID().slice(0, 8)}`, rateLimitPerMinute: 1_000_000,
    directoryPath: new URL('../config/directory.sample.json', import.meta.url).pathname,
  })
  const rt = createRuntime(config)
  const pool = createPool(databaseUrl, { max: 4 })
  const out: Record<string, number | string> = { events: n }
  try {
    await migrate(pool)
    // Loading shortcuts that leave the proof read path as in production (the seq index and
    // audit_nodes' primary key): no WAL for the bulk load, no secondary indexes that only the
    // auditor's search uses.
    await pool.query(`ALTER TABLE audit_events SET UNLOGGED; ALTER TABLE audit_nodes SET UNLOGGED;
      DROP INDEX IF EXISTS audit_at, audit_type_at, audit_agencies, audit_actor_seq, audit_exchange, audit_message, audit_witness_alarms,
        audit_line_exchange, audit_line_message, audit_line_type, audit_line_at, audit_line_actor, audit_line_agencies, audit_justification`)
    const t0 = Date.parse('2026-01-01T00:00:00Z')

    // 1. Seal n events as the sealer does, stream them into an export file and into the
    //    database's node and event tables in batches (bounded memory).
    const file = join(dir, 'export.ndjson')
    const acc = new MerkleAccumulator()
    const checkpoints: string[] = []
    let prev: Buffer | null = null
    const leafBatch = {
      ids: [] as string[], seqs: [] as number[], types: [] as string[], ats: [] as string[], lines: [] as string[], leaves: [] as Buffer[],
      exchanges: [] as string[], messages: [] as string[], agencies: [] as string[], actors: [] as string[],
    }
    const nodeBatch = { levels: [] as number[], idxs: [] as number[], hashes: [] as Buffer[] }
    let dbMs = 0
    // One insert in flight while the next batch is sealed: PostgreSQL and Node use a core each.
    let inFlight: Promise<void> = Promise.resolve()
    const flush = async (): Promise<void> => {
      const events = { ...leafBatch }
      const nodes = { ...nodeBatch }
      for (const k of Object.keys(leafBatch) as (keyof typeof leafBatch)[]) (leafBatch[k] as unknown[]) = []
      for (const k of Object.keys(nodeBatch) as (keyof typeof nodeBatch)[]) (nodeBatch[k] as unknown[]) = []
      await inFlight
      inFlight = (async () => {
        const [, ms] = await timed(async () => {
          await pool.query(
            // The columns as recordEvent writes them (the self-check compares them with the lines).
            `INSERT INTO audit_events (id, seq, type, at, exchange_id, message_id, agencies, actor, event, line, leaf_hash)
             SELECT id, seq, type, at, ex, msg, string_to_array(ag, ','), act, '{}'::jsonb, line, leaf
               FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::timestamptz[], $5::text[], $6::bytea[], $7::uuid[], $8::uuid[], $9::text[], $10::text[])
               AS u(id, seq, type, at, line, leaf, ex, msg, ag, act)`,
            [events.ids, events.seqs, events.types, events.ats, events.lines, events.leaves, events.exchanges, events.messages, events.agencies, events.actors])
          if (nodes.levels.length > 0) {
            await pool.query('INSERT INTO audit_nodes (level, idx, hash) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])',
              [nodes.levels, nodes.idxs, nodes.hashes])
          }
        })
        dbMs += ms
      })()
    }
    const sealStart = performance.now()
    async function * sealedLines (): AsyncGenerator<string> {
      for (let i = 0; i < n; i++) {
        const event = generatedEvent(i, t0, n)
        const sealed = sealEvent(event, i, prev)
        for (const node of acc.append(sealed.leafHash)) {
          if (node.level === 0) continue
          nodeBatch.levels.push(node.level); nodeBatch.idxs.push(node.index); nodeBatch.hashes.push(node.hash)
        }
        leafBatch.ids.push(event.id as string); leafBatch.seqs.push(i); leafBatch.types.push(event.type as string)
        leafBatch.ats.push(event.at as string); leafBatch.lines.push(sealed.line); leafBatch.leaves.push(sealed.leafHash)
        leafBatch.exchanges.push(event.exchangeId as string); leafBatch.messages.push(event.messageId as string)
        leafBatch.agencies.push((event.agencies as string[]).join(',')); leafBatch.actors.push((event.actor as { id: string }).id)
        prev = sealed.leafHash
        if (acc.size % every === 0 || acc.size === n) {
          checkpoints.push(await signCheckpoint(checkpointBody(ORIGIN, acc.size, acc.root(), new Date(t0 + Math.floor((acc.size * YEAR_MS) / n))), rt.brokerKey))
        }
        if (leafBatch.ids.length >= 20_000) await flush()
        yield sealed.line
      }
      await flush()
      await inFlight
    }
    // Checkpoints are signed as the tree grows, so the control lines are written here with the
    // format's own writers (export/format.ts), where exportLines would put them: an interim one
    // right after the event completing its size, then the covering checkpoint and the end line.
    const sink = createWriteStream(file)
    const write = async (text: string): Promise<void> => {
      if (!sink.write(text)) await once(sink, 'drain')
    }
    let written = 0
    for await (const line of sealedLines()) {
      await write(line + '\n')
      written++
      if (written % every === 0 && written < n) await write(checkpointLine(checkpoints.at(-1) as string) + '\n')
    }
    const covering = checkpoints.at(-1) as string
    const statement = await signStatement({
      origin: ORIGIN, from: null, to: null, firstSeq: 0, lastSeq: n - 1, events: n, treeSize: n, rootHash: hashToBase64(acc.root()),
      timestamp: new Date(t0 + YEAR_MS).toISOString(),
    }, rt.brokerKey)
    await write(checkpointLine(covering) + '\n' + statementLine(statement) + '\n')
    sink.end()
    await once(sink, 'finish')
    const sealMs = performance.now() - sealStart
    out['seal + write + store (s)'] = Math.round(sealMs / 100) / 10
    out['database inserts, overlapped (s)'] = Math.round(dbMs / 100) / 10
    out['export size (MB)'] = Math.round((await stat(file)).size / 1e5) / 10
    out.checkpoints = checkpoints.length

    // 2. Offline verification, as `leix audit verify` runs it: with its default digest threads,
    //    then with none (what a single CPU gives).
    const jwks = { keys: [rt.brokerKey.publicJwk] }
    const threads = opts.verifyThreads ?? defaultVerifyThreads()
    for (const [label, t] of [['', threads], [', no threads', 0]] as const) {
      if (label !== '' && threads === 0) break
      const cpu = process.cpuUsage()
      const [result, verifyMs] = await timed(() => verifyExportFile(file, jwks, { threads: t }))
      const cpuUsed = process.cpuUsage(cpu)
      if (!result.ok) throw new Error(`the generated export does not verify: ${JSON.stringify(result)}`)
      if (label === '') out['verify threads'] = t
      out[`verify${label} (s)`] = Math.round(verifyMs / 100) / 10
      out[`verify${label} (events/s)`] = Math.round(n / (verifyMs / 1000))
      // CPU time of this process (all its threads): on a loaded machine, the figure wall time hides.
      out[`verify${label} (events/CPU-s)`] = Math.round(n / ((cpuUsed.user + cpuUsed.system) / 1e6))
    }

    // 3. Inclusion proofs at size n over the stored nodes.
    await pool.query('ANALYZE audit_events; ANALYZE audit_nodes')
    // Every checkpoint the run signed (one per `every` events), as the sealer would have stored them.
    const sizes = checkpoints.map((jws) => parseCheckpointUnverified(jws).payload)
    await pool.query(`INSERT INTO audit_checkpoints (tree_size, root_hash, jws, created_at)
      SELECT s, decode(r, 'base64'), j, now() FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(s, r, j)`,
    [sizes.map((c) => c.treeSize), sizes.map((c) => c.rootHash), checkpoints])
    const root = acc.root()
    await pool.query('UPDATE audit_state SET tree_size = $1, last_leaf = $2, accumulator = $3', [n, prev, JSON.stringify(acc.toJSON())])

    // 2b. The running broker's self-check (LogWalker): a full walk of the stored log (lines ->
    //     leaf hashes -> nodes -> the root at n -> the checkpoint signature), and one incremental
    //     round over the newest 5 000 leaves (what a busy self-check interval sees).
    const walkerOpts = { jwks, origin: ORIGIN }
    const [full, fullMs] = await timed(() => new LogWalker(walkerOpts).walk(pool))
    if (!full.ok) throw new Error(`the self-check fails on the generated log: ${JSON.stringify(full)}`)
    out['self-check, full walk (s)'] = Math.round(fullMs / 100) / 10
    out['self-check, full walk (events/s)'] = Math.round(n / (fullMs / 1000))
    const incremental = new LogWalker(walkerOpts)
    const tail = Math.min(5000, n)
    const [warm, warmMs] = await timed(() => incremental.walk(pool, n - tail))
    void warmMs
    if (!warm.ok) throw new Error('self-check warm-up failed')
    const [step, stepMs] = await timed(() => incremental.walk(pool))
    if (!step.ok) throw new Error('incremental self-check failed')
    out[`self-check, incremental round of ${tail} events (ms)`] = Math.round(stepMs)
    const seqs = Array.from({ length: samples }, (_, i) => Math.floor(((i * 7919) % samples) / samples * n))
    const direct: number[] = []
    for (const seq of seqs) {
      const [path, ms] = await timed(() => storedInclusionProof(pool, seq, n))
      direct.push(ms)
      if (seq === seqs[0]) {
        const leaf = (await pool.query<{ leaf_hash: Buffer }>('SELECT leaf_hash FROM audit_events WHERE seq = $1', [seq])).rows[0]?.leaf_hash as Buffer
        if (!verifyInclusion(leaf, seq, n, path, root)) throw new Error('a stored proof does not verify')
      }
    }
    direct.sort((x, y) => x - y)
    out['inclusion proof, one query (ms p50)'] = percentile(direct, 50)
    out['inclusion proof, one query (ms p99)'] = percentile(direct, 99)

    // The same proofs with one query per node, for comparison (why storedProofs batches).
    const perNode: NodeSource = async (level, index) => {
      const { rows } = level === 0
        ? await pool.query<{ hash: Buffer }>('SELECT leaf_hash AS hash FROM audit_events WHERE seq = $1', [index])
        : await pool.query<{ hash: Buffer }>('SELECT hash FROM audit_nodes WHERE level = $1 AND idx = $2', [level, index])
      return rows[0]?.hash as Buffer
    }
    const naive: number[] = []
    for (const seq of seqs.slice(0, 200)) naive.push((await timed(() => inclusionProof(perNode, seq, n)))[1])
    naive.sort((x, y) => x - y)
    out['inclusion proof, query per node (ms p50)'] = percentile(naive, 50)

    // 4. Over HTTP: GET /v1/audit/proofs/inclusion on a real listener (the event's agency's token).
    const services = await startServices(rt, { workers: false, timers: false })
    const app = await buildApp(rt, services)
    try {
      const address = await app.listen({ port: 0, host: '127.0.0.1' })
      // An agency proves its own events (roles are agency-scoped): the token of the event's sender.
      const tokens = new Map(AGENCIES.map((agency) => [agency, app.jwt.sign({ sub: 'bench-officer', agency, roles: ['officer'] })]))
      const http: number[] = []
      for (const seq of seqs) {
        const token = tokens.get(AGENCIES[seq % AGENCIES.length] as string)
        const [res, ms] = await timed(async () => {
          const r = await fetch(`${address}/v1/audit/proofs/inclusion?seq=${seq}&treeSize=${n}`, { headers: { authorization: `Bearer ${token}` } })
          return { status: r.status, body: await r.json() as { auditPath: string[]; leafHash: string } }
        })
        if (res.status !== 200) throw new Error(`proof over HTTP answered ${res.status}`)
        if (seq === seqs[1] && !verifyInclusion(Buffer.from(res.body.leafHash, 'base64'), seq, n, res.body.auditPath.map((h) => Buffer.from(h, 'base64')), root)) {
          throw new Error('a proof over HTTP does not verify')
        }
        http.push(ms)
      }
      http.sort((x, y) => x - y)
      out['inclusion proof over HTTP (ms p50)'] = percentile(http, 50)
      out['inclusion proof over HTTP (ms p99)'] = percentile(http, 99)
    } finally {
      await app.close()
      await services.stop()
    }
    out.root = hashToBase64(root)
  } finally {
    await pool.end().catch(() => {})
    await rt.close()
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {})
    await admin.end()
    await rm(dir, { recursive: true, force: true })
  }
  return out
}
