import type { Runtime } from '../runtime.ts'

/** What readiness reports besides ok/not-ok: the audit backlog, the queue backlog and the live workers. */
export interface ReadinessCounts {
  audit?: { unsealedEvents: number; oldestUnsealedAgeSeconds: number; latestCheckpointAgeSeconds: number | null }
  queue?: { waiting: number; delayed: number; failed: number; active: number }
  /** Delivery workers connected to this queue prefix, in every process (BullMQ getWorkers). */
  workersAlive?: number
}

/** Reads the counts; a part that cannot be read is left out (its check says why). */
export async function readinessCounts (rt: Pick<Runtime, 'metrics' | 'queue' | 'clock'>): Promise<ReadinessCounts> {
  const age = (at: string | null) => (at ? Math.max(0, Math.round((rt.clock.now().getTime() - Date.parse(at)) / 1000)) : null)
  const [seal, jobs, workers] = await Promise.allSettled([
    rt.metrics.sources.seal?.(),
    rt.queue.queue.getJobCounts('waiting', 'delayed', 'failed', 'active'),
    rt.queue.queue.getWorkers(),
  ])
  const counts: ReadinessCounts = {}
  if (seal.status === 'fulfilled' && seal.value) {
    counts.audit = { unsealedEvents: seal.value.unsealed, oldestUnsealedAgeSeconds: age(seal.value.oldestUnsealedAt) ?? 0, latestCheckpointAgeSeconds: age(seal.value.latestCheckpointAt) }
  }
  if (jobs.status === 'fulfilled') {
    const j = jobs.value
    counts.queue = { waiting: j.waiting ?? 0, delayed: j.delayed ?? 0, failed: j.failed ?? 0, active: j.active ?? 0 }
  }
  if (workers.status === 'fulfilled') counts.workersAlive = workers.value.length
  return counts
}
