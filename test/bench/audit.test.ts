// The `audit` benchmark end to end at a small size: it migrates a fresh database, seals and stores
// events, verifies the export offline, walks the self-check and serves inclusion proofs. Asserts
// that each figure came out, never what it is (no timed assertion).
import t from 'tap'
import { benchAudit } from '../../bench/audit.ts'

t.test('the audit scenario runs end to end on the current schema and yields its figures', async (t) => {
  const out = await benchAudit({ events: 3000, checkpointEvery: 1000, samples: 20, verifyThreads: 2 })
  t.equal(out.events, 3000)
  t.equal(out.checkpoints, 3, 'a checkpoint every 1000 events')
  t.equal(out['verify threads'], 2)
  for (const figure of ['verify (events/s)', 'verify (events/CPU-s)', 'verify, no threads (events/s)', 'self-check, full walk (events/s)', 'inclusion proof, one query (ms p50)', 'inclusion proof over HTTP (ms p99)']) {
    t.type(out[figure], 'number', figure)
    t.ok(Number.isFinite(out[figure] as number), `${figure} is a number`)
  }
  t.match(out.root, /^[A-Za-z0-9+/]{43}=$/, 'the root of the tree')
})
