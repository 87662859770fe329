// `npm run bench`: every benchmark in one run on this machine. Figures, not assertions.
import os from 'node:os'
import { benchIntake } from './intake.ts'

const only = process.argv[2]
const started = Date.now()
console.log(`leix benchmarks — ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`)

if (!only || only === 'intake') {
  console.log('\n## Intake: POST /v1/messages with valid signed messages (autocannon, 16 connections, 10 s)')
  const r = await benchIntake()
  console.table({
    'leix (full pipeline)': r.leix,
    'naive reference (verify + INSERT + queue.add)': r.naive,
  })
  console.log(`leix / naive throughput ratio: ${r.ratio}`)
}

console.log(`\ndone in ${Math.round((Date.now() - started) / 1000)} s`)
process.exit(0)
