// Two runtimes (two pools, as two processes would have) append events from many concurrent
// transactions — some slow, committing long after later ones — while both seal concurrently.
// The log must come out with contiguous seqs from 0, one root per size, every root and stored
// node equal to a recomputation, and a full export that verifies.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { checkpointRoot, verifyCheckpoint } from '../../src/audit/checkpoint.ts'
import { exportChunks, planExport } from '../../src/audit/export/plan.ts'
import { MerkleAccumulator } from '../../src/audit/merkle/compact.ts'
import { leafHash } from '../../src/audit/merkle/hash.ts'
import { recordEvent } from '../../src/audit/record.ts'
import { sealOnce, type SealDeps } from '../../src/audit/sealer.ts'
import { verifyExport } from '../../src/audit/export/verify.ts'
import { systemClock } from '../../src/config/clock.ts'
import { createRuntime, type Runtime } from '../../src/runtime.ts'
import { withTransaction } from '../../src/store/db.ts'
import { createTestDatabase, dropQueueKeys, migrateTestDatabase, testConfig } from '../helpers.ts'
import { waitUntil } from '../../scripts/chaos/services.ts'

const databaseUrl = await createTestDatabase(t)
const runtimes: Runtime[] = [0, 1].map(() => createRuntime(testConfig(databaseUrl, { origin: 'leix.test' }), { clock: systemClock }))
t.teardown(async () => { for (const rt of runtimes) { await rt.close(); await dropQueueKeys(rt) } })
const [rtA, rtB] = runtimes as [Runtime, Runtime]
await Promise.all(runtimes.map((rt) => migrateTestDatabase(rt.config))) // concurrent start-up is safe too

const sealer = (rt: Runtime): SealDeps => ({ pool: rt.sealerPool, clock: rt.clock, key: rt.brokerKey, origin: rt.config.origin, batchSize: 7 })

t.test('concurrent writers and two sealers give contiguous seqs and one verifiable root per size', async (t) => {
  const WRITERS = 8
  const TXS = 40
  let written = 0
  let writing = true

  const writer = async (w: number): Promise<void> => {
    const rt = w % 2 === 0 ? rtA : rtB
    for (let i = 0; i < TXS; i++) {
      const n = await withTransaction(rt.pool, async (client) => {
        const n = 1 + ((w + i) % 3)
        for (let k = 0; k < n; k++) {
          await recordEvent(client, {
            type: 'delivery.attempted', actor: { kind: 'broker' }, messageId: randomUUID(), agencies: ['AL-ASP', 'RS-MUP'], outcome: 'ok', details: { writer: w, tx: i, k },
          }, new Date())
        }
        if (i % 5 === 0) await client.query('SELECT pg_sleep(0.02)') // commit out of recorded order
        return n
      })
      written += n // after the await: `written += await ...` would read `written` too early
    }
  }

  // A slow transaction: takes its `recorded` number first, and commits only once the sealers have
  // sequenced an event recorded after it (a sealer that waited for the lower `recorded` to commit
  // would never get there: the wait below fails). Conditions, not durations: under load a fixed
  // sleep was sometimes over before any later event was sealed.
  let slowRecorded!: () => void
  const slowHasRecorded = new Promise<void>((resolve) => { slowRecorded = resolve })
  const slow = withTransaction(rtA.pool, async (client) => {
    const { id } = await recordEvent(client, { type: 'message.received', actor: { kind: 'broker' }, agencies: [], outcome: 'ok', details: { slow: true } }, new Date())
    const { rows: [own] } = await client.query<{ recorded: number }>('SELECT recorded FROM audit_events WHERE id = $1', [id])
    slowRecorded()
    await waitUntil('an event recorded after the open slow transaction to be sealed', async () =>
      (await rtB.pool.query('SELECT 1 FROM audit_events WHERE seq IS NOT NULL AND recorded > $1 LIMIT 1', [own!.recorded])).rowCount, 120_000)
  }).then(() => { written += 1 })

  const stats = { sealed: [0, 0], busy: [0, 0], checkpoints: 0 }
  const sealLoop = async (rt: Runtime, who: 0 | 1): Promise<void> => {
    // eslint-disable-next-line no-unmodified-loop-condition -- the writer below clears it after an await
    while (writing) {
      const r = await sealOnce(sealer(rt))
      if (r.status === 'sealed') { stats.sealed[who] += r.events; stats.checkpoints++ }
      if (r.status === 'busy') stats.busy[who]++
      await sleep(r.status === 'idle' ? 5 : 0)
    }
  }

  await Promise.race([slowHasRecorded, slow]) // the slow transaction takes the lowest `recorded` (or failed)
  const sealers = [sealLoop(rtA, 0), sealLoop(rtB, 1)]
  await Promise.all([slow, ...Array.from({ length: WRITERS }, (_, w) => writer(w))])
  writing = false
  await Promise.all(sealers)
  while ((await sealOnce(sealer(rtB))).status !== 'idle');
  t.comment(`sealed by A ${stats.sealed[0]}, by B ${stats.sealed[1]}; lock busy A ${stats.busy[0]}, B ${stats.busy[1]}; ${stats.checkpoints} checkpoints`)

  const { rows } = await rtA.pool.query<{ seq: number | null; line: string; leaf_hash: Buffer; recorded: number; event: Record<string, unknown> }>(
    'SELECT seq, line, leaf_hash, recorded, event FROM audit_events ORDER BY seq')
  t.equal(rows.length, written, 'every committed event is in the log')
  t.ok(rows.every((r, i) => r.seq === i), 'seqs are exactly 0..n-1: no gap, no duplicate, none left unsealed')
  const slowRow = rows.find((r) => (r.event.details as { slow?: boolean }).slow)!
  t.ok(rows.some((r) => r.recorded > slowRow.recorded && r.seq! < slowRow.seq!), 'the slow transaction committed late and was still sequenced')

  // Recompute everything from the lines alone.
  const jwks = { keys: [rtA.brokerKey.publicJwk] }
  const checkpoints = (await rtA.pool.query<{ tree_size: number; root_hash: Buffer; jws: string }>('SELECT tree_size, root_hash, jws FROM audit_checkpoints ORDER BY tree_size')).rows
  const bySize = new Map(checkpoints.map((c) => [c.tree_size, c]))
  t.equal(bySize.size, checkpoints.length, 'one root per size')
  const nodes = new Map((await rtA.pool.query<{ level: number; idx: number; hash: Buffer }>('SELECT level, idx, hash FROM audit_nodes')).rows.map((n) => [`${n.level}:${n.idx}`, n.hash]))
  const acc = new MerkleAccumulator()
  let prev: string | null = null
  let chainOk = true
  let nodesOk = true
  let rootsOk = 0
  let expectedNodes = 0
  for (const row of rows) {
    const event = JSON.parse(row.line) as { seq: number; prev: string | null }
    const leaf = leafHash(Buffer.from(row.line, 'utf8'))
    if (event.seq !== row.seq || event.prev !== prev || !leaf.equals(row.leaf_hash)) chainOk = false
    for (const node of acc.append(leaf)) {
      if (node.level === 0) continue
      expectedNodes++
      if (!nodes.get(`${node.level}:${node.index}`)?.equals(node.hash)) nodesOk = false
    }
    prev = leaf.toString('base64')
    const cp = bySize.get(acc.size)
    if (cp) {
      const verified = await verifyCheckpoint(cp.jws, jwks)
      if (verified.treeSize === acc.size && checkpointRoot(verified).equals(acc.root()) && cp.root_hash.equals(acc.root())) rootsOk++
    }
  }
  t.ok(chainOk, 'every line carries its seq and the previous leaf hash, and hashes to its stored leaf')
  t.ok(nodesOk && nodes.size === expectedNodes, 'every stored tree node equals the recomputed one')
  t.equal(rootsOk, checkpoints.length, 'every checkpoint is signed and its root recomputes')
  t.equal(checkpoints.at(-1)!.tree_size, written, 'the newest checkpoint covers the whole log')
  const state = (await rtA.pool.query('SELECT tree_size FROM audit_state')).rows[0]
  t.equal(state.tree_size, written)

  const plan = await planExport(rtB.pool, {}, { key: rtB.brokerKey, origin: rtB.config.origin, now: new Date() })
  if ('refused' in plan) throw new Error(plan.detail)
  let text = ''
  for await (const chunk of exportChunks(rtB.pool, plan, { batch: 50 })) text += chunk
  const result = await verifyExport(text.trimEnd().split('\n'), jwks)
  t.ok(result.ok && result.events === written, `the full export verifies: ${JSON.stringify(result)}`)
})

t.test('an idle log seals nothing and signs no checkpoint', async (t) => {
  const before = (await rtA.pool.query('SELECT count(*)::int AS n FROM audit_checkpoints')).rows[0].n
  t.equal((await sealOnce(sealer(rtA))).status, 'idle')
  t.equal((await rtA.pool.query('SELECT count(*)::int AS n FROM audit_checkpoints')).rows[0].n, before)
})
