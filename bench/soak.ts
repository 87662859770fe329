// Memory under sustained load (`npm run bench -- soak`): the gateway + 2 workers topology of the
// `system` scenario, offered half its sustained rate (given, or found first) for five minutes; the
// resident set of each leix process is read from /proc/PID/status once a second. Prints RSS after
// the warm-up and at the end, and their ratio (flat memory: within 10 %). Figures, not assertions.
import { readFileSync } from 'node:fs'
import { findSustainedRate, offer, startTopology, type ProbeFigures, type TopologyKind } from './system.ts'

export interface SoakOptions {
  /** Offered messages a second; default half the sustained rate found first (short probes). */
  rate?: number
  /** Soak length in seconds (default 300). */
  duration?: number
  /** Seconds of warm-up before the first RSS figure (default: a tenth of the duration, 5..30). */
  warmup?: number
  topology?: TopologyKind
  log?: (line: string) => void
}

export interface SoakRow { process: string, rssAfterWarmupMiB: number, rssAtEndMiB: number, ratio: number }

/** VmRSS of a live process in bytes, or undefined once it has gone. */
function rssBytes (pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

const mib = (bytes: number | undefined) => (bytes === undefined ? NaN : Math.round((bytes / 2 ** 20) * 10) / 10)

export async function benchSoak (opts: SoakOptions = {}): Promise<{ rate: number, rows: SoakRow[], load: ProbeFigures }> {
  const duration = opts.duration ?? 300
  const warmup = opts.warmup ?? Math.min(30, Math.max(5, Math.round(duration / 10)))
  const log = opts.log ?? ((line: string) => { process.stdout.write(`${line}\n`) })
  const topo = await startTopology(opts.topology ?? 'split')
  try {
    let rate = opts.rate
    if (rate === undefined) {
      log('no --rate given: finding the sustained rate first (short probes)')
      const found = await findSustainedRate(topo, { duration: 10, probe: 5, start: 50 }, log)
      rate = found.rate
    }
    rate = Math.max(1, Math.round(rate / 2))
    log(`soak: ${rate}/s for ${duration} s, RSS after ${warmup} s of warm-up and at the end`)
    const pids = topo.processes.map((p, i) => ({ name: `${p.process.role} ${i}`, pid: p.process.child.pid }))
    const warm = new Map<string, number | undefined>()
    const last = new Map<string, number | undefined>()
    const load = await offer(topo, rate, duration, (second) => {
      for (const p of pids) {
        const rss = rssBytes(p.pid)
        if (second === warmup) warm.set(p.name, rss)
        if (rss !== undefined) last.set(p.name, rss)
      }
    })
    const rows = pids.map((p) => {
      const a = warm.get(p.name)
      const b = last.get(p.name)
      return { process: p.name, rssAfterWarmupMiB: mib(a), rssAtEndMiB: mib(b), ratio: a && b ? Math.round((b / a) * 1000) / 1000 : NaN }
    })
    return { rate, rows, load }
  } finally {
    await topo.stop()
  }
}
