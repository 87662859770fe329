// `npm run bench`: every benchmark in one run on this machine. Figures, not assertions.
// `npm run bench -- intake|delivery|audit|system|soak` runs one; `--duration S` sets the system
// scenario's confirmation length (default 60) or the soak's length (default 300) when run alone,
// `--probe S` the system search probes, `--rate N` the soak's reference rate (it offers half),
// `--rounds N` the intake rounds (default 3).
import os from 'node:os'
import { parseArgs } from 'node:util'
import { benchIntake } from './intake.ts'

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: { duration: { type: 'string' }, probe: { type: 'string' }, rate: { type: 'string' }, rounds: { type: 'string' } },
})
const only = positionals[0]
const number = (v: string | undefined) => (v === undefined ? undefined : Number(v))
const started = Date.now()
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ')
console.log(`leix benchmarks — ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, load ${load()}`)

if (!only || only === 'intake') {
  const rounds = number(args.rounds) ?? 3
  console.log(`\n## Intake: POST /v1/messages with valid signed messages (autocannon, 16 connections, 10 s), ${rounds} rounds against the naive reference pipeline (verify + INSERT + queue.add), the order alternating`)
  const r = await benchIntake({ rounds })
  const ms = (f: { p50Ms: number; p99Ms: number }) => `${f.p50Ms} / ${f.p99Ms}`
  console.table(r.rounds.map((x) => ({
    round: x.round, order: x.order, 'leix req/s': x.leix.requestsPerSecond, 'leix p50 / p99 ms': ms(x.leix), 'leix non-2xx': x.leix.non2xx,
    'naive req/s': x.naive.requestsPerSecond, 'naive p50 / p99 ms': ms(x.naive), 'naive non-2xx': x.naive.non2xx, 'leix / naive': x.ratio,
  })))
  console.log(`leix / naive throughput ratio (median of ${r.rounds.length} rounds): ${r.ratio} (medians: leix ${r.leixMedian} req/s, naive ${r.naiveMedian} req/s)`)
}

if (!only || only === 'delivery') {
  const { benchDelivery } = await import('./delivery.ts')
  console.log('\n## Delivery: accept (202) -> delivered at a local webhook, and worker throughput')
  console.table(await benchDelivery())
}

if (!only || only === 'audit') {
  const { benchAudit } = await import('./audit.ts')
  console.log('\n## Audit log: offline verification of a 1,000,000-event export, inclusion proofs at that size')
  console.table(await benchAudit())
}

let sustained: number | undefined
if (!only || only === 'system') {
  const { benchSystem, TARGET } = await import('./system.ts')
  const duration = number(args.duration) ?? 60
  console.log(`\n## Whole system, sustained: open-model load, highest rate held for ${duration} s (intake p99 ≤ ${TARGET.p99Ms} ms, no errors, seal lag ≤ ${TARGET.sealLagSeconds} s, delivery backlog flat)`)
  const r = await benchSystem({ duration, probe: number(args.probe) })
  console.table(r.rows)
  console.log(`naive reference pipeline ceiling (closed loop, 16 connections, same run): ${r.naiveCeiling} req/s`)
  sustained = r.rows.find((row) => row.topology !== 'serve')?.sustainedRate
}

if (!only || only === 'soak') {
  const { benchSoak } = await import('./soak.ts')
  const duration = only === 'soak' ? number(args.duration) ?? 300 : 300
  console.log(`\n## Memory under load: ${duration} s at half the sustained rate, RSS of each leix process`)
  const r = await benchSoak({ duration, rate: number(args.rate) ?? sustained })
  console.log(`offered ${r.rate}/s: intake p50 ${r.load.intakeP50Ms} ms, p99 ${r.load.intakeP99Ms} ms, ${r.load.errors} errors`)
  console.table(r.rows)
}

console.log(`\ndone in ${Math.round((Date.now() - started) / 1000)} s, load ${load()}`)
process.exit(0)
