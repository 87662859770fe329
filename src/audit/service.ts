// The audit log's background service: the sealer loop, retention, the fail-closed gate on intake
// and a readiness check (the audit and consultation routes are registered by app.ts).
//
// It runs in every process (gateway, worker or both): sealing is safe anywhere thanks to the
// sealer lock (sealer.ts), and every gateway needs a current verdict for its gate. Retention
// runs only where workers run.
import pino from 'pino'
import type { Service } from '../background.ts'
import type { ReadinessCheck } from '../readiness.ts'
import { DomainError } from '../errors.ts'
import { OutageLog } from '../outage.ts'
import { every, type Periodic } from '../periodic.ts'
import type { Runtime } from '../runtime.ts'
import { closeAnsweredExchanges } from '../exchanges/record.ts'
import { openAlarms, raiseAlarm, type OpenAlarm } from './integrity.ts'
import { eraseJustifications } from './justification.ts'
import { isConnectionError } from '../store/db.ts'
import { erasePastRetention, notifyReviewsDue } from './retention.ts'
import { LogWalker, type WalkResult } from './self-check.ts'
import { publishedKeys } from '../config/keys.ts'
import { sealOnce, sealPending, type SealDeps, type SealResult } from './sealer.ts'

/** What the gate knows about the seal, refreshed by every tick (never by a request). */
export interface SealHealth {
  /** True while intake must refuse messages (fail closed). */
  closed: boolean
  /** Why, when closed. */
  reason?: string
  /** Events recorded but not yet sequenced (capped at 100 000). */
  unsealed: number
  oldestUnsealedAt: string | null
  latestCheckpoint: { treeSize: number; at: string } | null
  /** The last seal attempt of this process, when it failed or found the lock taken. */
  sealer: 'ok' | 'busy' | `error: ${string}` | `halted: ${string}` | 'not run'
  /** Open integrity alarms (self-check, served lines, refused events): readiness fails while any is open. */
  alarms: OpenAlarm[]
}

export interface AuditServiceOptions {
  /** Whether this process runs workers (then it also runs retention). */
  workers: boolean
  /** Start the timer loop. Tests pass false and drive `runOnce`. @defaultValue true */
  autoStart?: boolean
  /** Run the self-check (walker) in this process. @defaultValue the value of `workers` */
  selfCheck?: boolean
}

export interface AuditService extends Service {
  readiness: ReadinessCheck
  /** A problem while intake must refuse messages (the seal is overdue: fail closed), undefined otherwise. */
  gate(): DomainError | undefined
  /** One round: seal what waits, erase what is due (workers), refresh the gate. */
  runOnce(): Promise<SealHealth>
  /** One seal transaction (tests). */
  sealOnce(): Promise<SealResult>
  /** Refreshes the gate's verdict from the database. */
  check(): Promise<SealHealth>
  /** The cached verdict. */
  health(): SealHealth
  /**
   * One self-check round: re-walks the leaves sealed since the last round, or (full) the whole
   * log from seq 0. A failure raises an alarm (once) and refreshes the verdict.
   */
  selfCheck(opts?: { full?: boolean }): Promise<WalkResult>
}

const UNSEALED_CAP = 100_000

/** Creates the service; with `autoStart` its loop runs every `checkpointIntervalMs`. */
export async function createAuditService (rt: Runtime, opts: AuditServiceOptions): Promise<AuditService> {
  const { config, clock, pool } = rt
  const log = pino({ level: config.logLevel, name: 'leix-audit' })
  // A PostgreSQL outage is logged once per loop, not once per tick; the loops keep running.
  const retentionOutage = new OutageLog(log, 'retention', 'postgres')
  const sealerOutage = new OutageLog(log, 'audit sealer', 'postgres')
  const seal: SealDeps = {
    // Sealing runs as the sealer role, the only one the database lets seal (README "Database roles").
    pool: rt.sealerPool, clock, key: rt.brokerKey, origin: config.origin, maxSkewSeconds: config.maxSkewSeconds,
    onRefused: (rowId, why) => log.error({ alarm: 'audit-integrity', rowId, why }, 'AUDIT INTEGRITY ALARM: the sealer refused a waiting event'),
  }
  const limitMs = config.sealMaxAgeSeconds * 1000
  let state: SealHealth = { closed: false, unsealed: 0, oldestUnsealedAt: null, latestCheckpoint: null, sealer: 'not run', alarms: [] }
  let sealer: SealHealth['sealer'] = 'not run'
  // Counted rather than timed: the clock may be a test's manual clock that jumps by days.
  let failedChecks = 0

  const check = async (): Promise<SealHealth> => {
    try {
      const { rows } = await pool.query<{ oldest: Date | null; unsealed: number; cp_size: number | null; cp_at: Date | null }>(
        `SELECT (SELECT at FROM audit_events WHERE seq IS NULL AND refused IS NULL ORDER BY recorded LIMIT 1) AS oldest,
                (SELECT count(*)::int FROM (SELECT 1 FROM audit_events WHERE seq IS NULL AND refused IS NULL LIMIT ${UNSEALED_CAP}) w) AS unsealed,
                c.tree_size AS cp_size, c.created_at AS cp_at
           FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT tree_size, created_at FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1) c ON true`
      )
      const alarms = await openAlarms(pool)
      failedChecks = 0
      const row = rows[0] as { oldest: Date | null; unsealed: number; cp_size: number | null; cp_at: Date | null }
      const now = clock.now()
      const ageMs = row.oldest ? now.getTime() - row.oldest.getTime() : 0
      const cp = row.cp_size !== null && row.cp_at ? { treeSize: row.cp_size, at: row.cp_at.toISOString() } : null
      // Not "newest checkpoint older than the limit": after a quiet hour the newest checkpoint is
      // an hour old, yet a fresh event is no reason to refuse. What must not age is a waiting event.
      const closed = row.unsealed > 0 && ageMs > limitMs
      state = {
        closed,
        unsealed: row.unsealed,
        oldestUnsealedAt: row.oldest?.toISOString() ?? null,
        latestCheckpoint: cp,
        sealer,
        alarms,
        ...(closed
          ? {
              reason: `${row.unsealed} audit event(s) unsealed for ${Math.round(ageMs / 1000)} s (limit ${config.sealMaxAgeSeconds} s); ` +
                `newest checkpoint ${cp ? `size ${cp.treeSize} at ${cp.at}` : 'none'}; sealer in this process: ${sealer}`,
            }
          : {}),
      }
    } catch (err) {
      failedChecks++
      const blind = failedChecks * config.checkpointIntervalMs >= limitMs
      // Unknown for longer than the limit counts as unsealed: fail closed, say why.
      state = {
        ...state,
        sealer,
        closed: state.closed || blind,
        reason: `cannot read the audit log state (${failedChecks} failed checks): ${(err as Error).message}`,
      }
      if (!state.closed) delete state.reason
    }
    return state
  }

  const runOnce = async (): Promise<SealHealth> => {
    // Retention first, so that its payload.erased events are sealed in the same round.
    if (opts.workers) {
      try {
        const erased = await erasePastRetention({ pool, clock })
        if (erased > 0) log.info({ erased }, 'payloads erased past their erase-by date (D7)')
        const closed = await closeAnsweredExchanges(pool, clock.now(), config.exchangeAutoCloseSeconds)
        if (closed > 0) log.info({ closed }, 'answered exchanges closed automatically')
        const justifications = await eraseJustifications({ pool, clock })
        if (justifications > 0) log.info({ justifications }, 'justification texts erased past their retention period (A3)')
        const reviews = await notifyReviewsDue({ pool, clock, directory: rt.directory })
        if (reviews > 0) log.info({ reviews }, 'senders told that messages reached their review-by date (D7)')
        retentionOutage.recover()
      } catch (err) {
        if (isConnectionError(err)) retentionOutage.fail(err)
        else log.error({ err }, 'retention failed')
      }
    }
    try {
      const r = await sealPending(seal)
      sealer = r.halted !== undefined ? `halted: ${r.halted}` : r.busy ? 'busy' : 'ok'
      if (r.events > 0) log.debug({ events: r.events, treeSize: r.treeSize }, 'audit events sealed')
      sealerOutage.recover()
    } catch (err) {
      sealer = `error: ${(err as Error).message}`
      if (isConnectionError(err)) sealerOutage.fail(err)
      else log.error({ err }, 'sealing the audit log failed')
    }
    return await check()
  }

  // The self-check: one walker kept between rounds (incremental), a fresh one for a full walk.
  // The ring as loaded now: a reload may rotate the broker key (src/directory/reload.ts).
  const jwks = () => publishedKeys(rt.brokerKey)
  let walkerKid = rt.brokerKey.kid
  let walker = new LogWalker({ jwks: jwks(), origin: config.origin })
  let lastFull = -Infinity
  const selfCheck = async (o: { full?: boolean } = {}): Promise<WalkResult> => {
    const current = await openAlarms(pool, 1)
    if (current.length > 0) rt.metrics.selfCheckOk.set(0)
    if (current.length > 0) return { ok: false, ...(current[0]?.seq != null ? { seq: current[0].seq } : {}), reason: `alarm open: ${current[0]?.reason ?? ''}` }
    // After a rotation the walker needs the new key; it starts again (one full walk).
    if (walkerKid !== rt.brokerKey.kid) {
      walker = new LogWalker({ jwks: jwks(), origin: config.origin })
      walkerKid = rt.brokerKey.kid
    }
    const w = o.full ? new LogWalker({ jwks: jwks(), origin: config.origin }) : walker
    const result = await w.walk(pool)
    rt.metrics.selfCheckLastRun.set(clock.now().getTime() / 1000)
    rt.metrics.selfCheckOk.set(result.ok ? 1 : 0)
    if (result.ok) {
      if (o.full) walker = w
      return result
    }
    rt.metrics.selfCheckFailures.inc()
    rt.metrics.integrityAlarms.inc({ source: 'self-check' })
    await raiseAlarm(pool, log, clock.now(), { seq: result.seq, source: o.full ? 'self-check (full)' : 'self-check', reason: result.reason })
    walker = new LogWalker({ jwks: jwks(), origin: config.origin })
    await check()
    return result
  }
  const selfCheckRound = async (): Promise<void> => {
    const now = performance.now()
    const full = now - lastFull >= config.fullCheckIntervalSeconds * 1000 && (config.fullCheckIntervalSeconds > 0 || lastFull === -Infinity)
    if (full) lastFull = now
    await selfCheck({ full })
  }

  // Seal lag and checkpoint age, read when Prometheus scrapes.
  rt.metrics.sources.seal = async () => {
    const h = await check()
    return { unsealed: h.unsealed, oldestUnsealedAt: h.oldestUnsealedAt, latestCheckpointAt: h.latestCheckpoint?.at ?? null }
  }
  // Know the state before the gateway opens; the first seal follows on the first tick.
  await check()
  const loops: Periodic[] = []
  if (opts.autoStart !== false) {
    // runOnce handles its own failures (logged once per outage, reflected in the verdict).
    loops.push(every(config.checkpointIntervalMs, runOnce, { onError: (err) => log.error({ err }, 'the audit round failed') }))
    if (opts.selfCheck ?? opts.workers) {
      loops.push(every(config.selfCheckIntervalMs, selfCheckRound, { onError: (err) => log.warn({ err }, 'the audit self-check could not run (will retry)') }))
    }
  }

  return {
    readiness: {
      name: 'audit-seal',
      check: async () => {
        // Read live (one indexed query): an alarm raised by any process shows at once.
        const alarm = (await openAlarms(pool, 1).catch(() => state.alarms))[0]
        if (alarm) {
          return `audit integrity alarm${alarm.seq !== null ? ` at seq ${alarm.seq}` : ''} (${alarm.source}, ${alarm.detectedAt}): ${alarm.reason}; ` +
            'checkpoint signing is stopped until `leix audit self-check --resolve` passes'
        }
        return state.closed ? state.reason ?? 'the audit log is not sealed' : undefined
      },
    },
    gate: () => (state.closed
      ? new DomainError('audit-unsealed', `intake is paused: ${state.reason ?? 'the audit log is not sealed'}`, {
        extra: { unsealedEvents: state.unsealed, oldestUnsealedAt: state.oldestUnsealedAt, sealMaxAgeSeconds: config.sealMaxAgeSeconds },
      })
      : undefined),
    runOnce,
    sealOnce: () => sealOnce(seal),
    check,
    health: () => state,
    selfCheck,
    async stop () {
      await Promise.all(loops.map((loop) => loop.stop()))
      // Best effort: seal what the stopped services recorded last, so it is not left for the next start.
      await sealPending(seal, 5).catch(() => {})
    },
  }
}
