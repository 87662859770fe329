// `npm run bench`: every benchmark in one run on this machine. Figures, not assertions.
// `npm run bench -- intake|delivery|audit` runs one.
import os from 'node:os'
import { benchIntake } from './intake.ts'

const only = process.argv[2]
const started = Date.now()
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ')
console.log(`leix benchmarks — ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, load ${load()}`)

if (!only || only === 'intake') {
  console.log('\n## Intake: POST /v1/messages with valid signed messages (autocannon, 16 connections, 10 s)')
  const r = await benchIntake()
  console.table({
    'leix (full pipeline)': r.leix,
    'naive reference (verify + INSERT + queue.add)': r.naive,
  })
  console.log(`leix / naive throughput ratio: ${r.ratio}`)
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

console.log(`\ndone in ${Math.round((Date.now() - started) / 1000)} s, load ${load()}`)
process.exit(0)
