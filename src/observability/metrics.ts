import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

/** A pg Pool's counters (pg's Pool exposes them as properties). */
export interface PoolStats { totalCount: number; idleCount: number; waitingCount: number }

/** What the gauges read at scrape time; each source is set by the part of the process that owns it. */
export interface ScrapeSources {
  /** BullMQ job counts by state, per queue. */
  queues?: () => Promise<Record<string, Record<string, number>>>
  /** The process's PostgreSQL pools by name. */
  pools?: Record<string, PoolStats>
  /** The audit log: unsealed events, the oldest one's time and the newest checkpoint's time. */
  seal?: () => Promise<{ oldestUnsealedAt: string | null; latestCheckpointAt: string | null; unsealed: number }>
  /** Exchanges past their deadline and unanswered, by the responding agency. */
  overdue?: () => Promise<{ agency: string; count: number }[]>
  /** Whether a witness alarm is active (a witness has not cosigned since its alarm). */
  witnessAlarmActive?: () => Promise<boolean>
  now?: () => Date
}

/**
 * One process's Prometheus registry and its metrics (created by the runtime, cleared when it
 * closes; no registry at module level, so two runtimes in one test process never mix). Counters
 * move where the work happens; gauges about shared state (queues, the audit log, overdue
 * exchanges, pools) are read when Prometheus scrapes, so they are never stale.
 */
export class Metrics {
  readonly registry = new Registry()
  readonly sources: ScrapeSources = {}
  readonly intake: Counter<'outcome' | 'problem'>
  readonly intakeSeconds: Histogram<'outcome'>
  readonly deliveryAttempts: Counter<'recipient' | 'status'>
  readonly deliveryFailures: Counter<'recipient' | 'status'>
  readonly undeliverable: Counter<'recipient'>
  readonly reconcilerReenqueued: Counter<'kind'>
  readonly selfCheckOk: Gauge
  readonly selfCheckLastRun: Gauge
  readonly selfCheckFailures: Counter
  readonly witnessAlarms: Counter<'witness'>
  readonly integrityAlarms: Counter<'source'>
  readonly shed: Counter<'reason'>

  constructor () {
    const registers = [this.registry]
    // Node's own metrics keep their usual names (process_*, nodejs_*, among them
    // nodejs_eventloop_lag_seconds and the event-loop delay percentiles) so stock dashboards work.
    collectDefaultMetrics({ register: this.registry })
    this.intake = new Counter({ name: 'leix_intake_messages_total', help: 'Messages submitted to POST /v1/messages, by outcome (accepted, replayed, rejected) and problem code', labelNames: ['outcome', 'problem'], registers })
    this.intakeSeconds = new Histogram({ name: 'leix_intake_duration_seconds', help: 'Time to answer POST /v1/messages, by outcome', labelNames: ['outcome'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers })
    this.deliveryAttempts = new Counter({ name: 'leix_delivery_attempts_total', help: 'Webhook delivery attempts, by recipient agency and HTTP status (or "error" when no answer came)', labelNames: ['recipient', 'status'], registers })
    this.deliveryFailures = new Counter({ name: 'leix_delivery_failures_total', help: 'Failed webhook delivery attempts, by recipient agency and HTTP status (or "error")', labelNames: ['recipient', 'status'], registers })
    this.undeliverable = new Counter({ name: 'leix_delivery_undeliverable_total', help: 'Messages that became undeliverable, by recipient agency', labelNames: ['recipient'], registers })
    this.reconcilerReenqueued = new Counter({ name: 'leix_reconciler_reenqueued_total', help: 'Jobs the reconciler put back into Redis from PostgreSQL, by kind (message, notification)', labelNames: ['kind'], registers })
    this.selfCheckOk = new Gauge({ name: 'leix_audit_self_check_ok', help: '1 when the last audit self-check round passed, 0 when it found damage or an alarm is open', registers })
    this.selfCheckLastRun = new Gauge({ name: 'leix_audit_self_check_last_run_timestamp_seconds', help: 'When the last audit self-check round ended (Unix time)', registers })
    this.selfCheckFailures = new Counter({ name: 'leix_audit_self_check_failures_total', help: 'Audit self-check rounds that found the log damaged', registers })
    this.witnessAlarms = new Counter({ name: 'leix_witness_alarms_total', help: 'Alarms received from witnesses (inconsistent checkpoints), by witness', labelNames: ['witness'], registers })
    this.shed = new Counter({ name: 'leix_requests_shed_total', help: 'Requests refused with 503 overloaded (load shedding), by reason (eventLoopDelay, healthCheck: commits or PostgreSQL connections waiting)', labelNames: ['reason'], registers })
    this.integrityAlarms = new Counter({ name: 'leix_audit_integrity_alarms_total', help: 'Audit integrity alarms raised by this process, by source', labelNames: ['source'], registers })

    const sources = this.sources
    const now = () => (sources.now ?? (() => new Date()))()
    const age = (at: string | null | undefined) => (at ? Math.max(0, (now().getTime() - Date.parse(at)) / 1000) : 0)
    // Each collector catches its own failure: one unreachable backend leaves its gauge empty
    // rather than failing the whole scrape (leix_scrape_errors_total says which).
    const scrapeErrors = new Counter({ name: 'leix_scrape_errors_total', help: 'Gauges that could not be read during a scrape, by source', labelNames: ['source'], registers })
    const guarded = (source: string, g: Gauge<string>, read: () => Promise<void>) => async () => {
      g.reset()
      try {
        await read()
      } catch {
        scrapeErrors.inc({ source })
      }
    }
    const queueJobs: Gauge<'queue' | 'state'> = new Gauge({
      name: 'leix_queue_jobs',
      help: 'Jobs in the BullMQ queues, by queue and state (waiting, active, delayed, failed, completed, prioritized, paused)',
      labelNames: ['queue', 'state'],
      registers,
      collect: async () => await guarded('queues', queueJobs, async () => {
        for (const [queue, counts] of Object.entries(await sources.queues?.() ?? {})) {
          for (const [state, n] of Object.entries(counts)) queueJobs.set({ queue, state }, n)
        }
      })(),
    })
    // prom-client collects all gauges at once: the three audit gauges share one read per scrape.
    // (they start in one synchronous pass, so the read is shared until the next turn of the loop).
    let sealRead: ReturnType<NonNullable<ScrapeSources['seal']>> | undefined
    const seal = () => {
      if (!sealRead) {
        sealRead = sources.seal?.() ?? Promise.resolve({ unsealed: 0, oldestUnsealedAt: null, latestCheckpointAt: null })
        setImmediate(() => { sealRead = undefined })
      }
      return sealRead
    }
    const auditGauge = (name: string, help: string, read: (s: Awaited<ReturnType<typeof seal>>) => number | undefined): void => {
      const g: Gauge = new Gauge({
        name, help, registers,
        collect: async () => await guarded('seal', g, async () => {
          if (!sources.seal) return
          const v = read(await seal())
          if (v !== undefined) g.set(v)
        })(),
      })
    }
    auditGauge('leix_audit_seal_lag_seconds', 'Age of the oldest audit event not yet sealed (0 when none waits)', (s) => age(s.oldestUnsealedAt))
    auditGauge('leix_audit_unsealed_events', 'Audit events recorded and not yet sealed (capped at 100 000)', (s) => s.unsealed)
    auditGauge('leix_audit_checkpoint_age_seconds', 'Age of the newest signed checkpoint', (s) => (s.latestCheckpointAt ? age(s.latestCheckpointAt) : undefined))
    const overdue: Gauge<'agency'> = new Gauge({
      name: 'leix_exchanges_overdue',
      help: 'Exchanges past their deadline and not answered, by the responding agency',
      labelNames: ['agency'],
      registers,
      collect: async () => await guarded('overdue', overdue, async () => {
        for (const { agency, count } of await sources.overdue?.() ?? []) overdue.set({ agency }, count)
      })(),
    })
    const witnessActive: Gauge = new Gauge({
      name: 'leix_witness_alarm_active',
      help: '1 while a witness alarm is active (readiness fails until that witness cosigns again), else 0',
      registers,
      collect: async () => await guarded('witness', witnessActive, async () => {
        if (sources.witnessAlarmActive) witnessActive.set((await sources.witnessAlarmActive()) ? 1 : 0)
      })(),
    })
    const pool = (name: string, help: string, field: keyof PoolStats): Gauge<'pool'> => {
      const g: Gauge<'pool'> = new Gauge({
        name, help, labelNames: ['pool'], registers,
        collect: () => {
          g.reset()
          for (const [p, stats] of Object.entries(sources.pools ?? {})) g.set({ pool: p }, stats[field])
        },
      })
      return g
    }
    pool('leix_db_pool_waiting_clients', 'Queries waiting for a free PostgreSQL connection, by pool (app, sealer)', 'waitingCount')
    pool('leix_db_pool_connections', 'Open PostgreSQL connections, by pool', 'totalCount')
    pool('leix_db_pool_idle_connections', 'Idle PostgreSQL connections, by pool', 'idleCount')
  }

  /** The exposition text and its content type. */
  async scrape (): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }

  close (): void {
    this.registry.clear()
  }
}
