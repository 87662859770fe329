// The audit log's background service: the sealer loop, retention, the fail-closed gate on intake,
// a readiness check, and the audit and consultation routes.
//
// It runs in every process (gateway, worker or both): sealing is safe anywhere thanks to the
// sealer lock (sealer.ts), and every gateway needs a current verdict for its gate. Retention
// runs only where workers run.
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import type { Service } from '../background.ts'
import { authenticate } from '../http/auth.ts'
import { Problem } from '../http/problems.ts'
import { auditRoutes } from '../http/routes/audit.ts'
import { consultRoutes } from '../http/routes/consult.ts'
import type { Runtime } from '../runtime.ts'
import { erasePastRetention, notifyReviewsDue } from './retention.ts'
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
  sealer: 'ok' | 'busy' | `error: ${string}` | 'not run'
}

export interface AuditServiceOptions {
  /** Whether this process runs workers (then it also runs retention). */
  workers: boolean
  /** Start the timer loop. Tests pass false and drive `runOnce`. @defaultValue true */
  autoStart?: boolean
}

export interface AuditService extends Service {
  /** One round: seal what waits, erase what is due (workers), refresh the gate. */
  runOnce(): Promise<SealHealth>
  /** One seal transaction (tests). */
  sealOnce(): Promise<SealResult>
  /** Refreshes the gate's verdict from the database. */
  check(): Promise<SealHealth>
  /** The cached verdict. */
  health(): SealHealth
}

const UNSEALED_CAP = 100_000

/** Creates the service; with `autoStart` its loop runs every `checkpointIntervalMs`. */
export async function createAuditService(rt: Runtime, opts: AuditServiceOptions): Promise<AuditService> {
  const { config, clock, pool } = rt
  const log = pino({ level: config.logLevel, name: 'leix-audit' })
  // Sealing runs as the sealer role, the only one the database lets seal (README "Database roles").
  const seal: SealDeps = { pool: rt.sealerPool, clock, key: rt.brokerKey, origin: config.origin }
  const limitMs = config.sealMaxAgeSeconds * 1000
  let state: SealHealth = { closed: false, unsealed: 0, oldestUnsealedAt: null, latestCheckpoint: null, sealer: 'not run' }
  let sealer: SealHealth['sealer'] = 'not run'
  // Counted rather than timed: the clock may be a test's manual clock that jumps by days.
  let failedChecks = 0

  const check = async (): Promise<SealHealth> => {
    try {
      const { rows } = await pool.query<{ oldest: Date | null; unsealed: number; cp_size: number | null; cp_at: Date | null }>(
        `SELECT (SELECT at FROM audit_events WHERE seq IS NULL ORDER BY recorded LIMIT 1) AS oldest,
                (SELECT count(*)::int FROM (SELECT 1 FROM audit_events WHERE seq IS NULL LIMIT ${UNSEALED_CAP}) w) AS unsealed,
                c.tree_size AS cp_size, c.created_at AS cp_at
           FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT tree_size, created_at FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1) c ON true`,
      )
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
        const reviews = await notifyReviewsDue({ pool, clock, directory: rt.directory })
        if (reviews > 0) log.info({ reviews }, 'senders told that messages reached their review-by date (D7)')
      } catch (err) {
        log.error({ err }, 'retention failed')
      }
    }
    try {
      const r = await sealPending(seal)
      sealer = r.busy ? 'busy' : 'ok'
      if (r.events > 0) log.debug({ events: r.events, treeSize: r.treeSize }, 'audit events sealed')
    } catch (err) {
      sealer = `error: ${(err as Error).message}`
      log.error({ err }, 'sealing the audit log failed')
    }
    return await check()
  }

  // The loop: one round at a time (no overlap), every checkpointIntervalMs.
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> | undefined
  let stopped = false
  const schedule = (): void => {
    if (stopped) return
    timer = setTimeout(() => {
      running = runOnce().finally(() => {
        running = undefined
        schedule()
      })
    }, config.checkpointIntervalMs)
    timer.unref()
  }

  // Know the state before the gateway opens; the first seal follows on the first tick.
  await check()
  if (opts.autoStart !== false) schedule()

  const auth = authenticate(rt.directory)
  return {
    routes: async (app: FastifyInstance) => {
      await auditRoutes(app, { pool, clock, authenticate: auth })
      await consultRoutes(app, { pool, clock, authenticate: auth })
    },
    readiness: {
      name: 'audit-seal',
      check: async () => (state.closed ? state.reason ?? 'the audit log is not sealed' : undefined),
    },
    gate: () => (state.closed
      ? new Problem('audit-unsealed', `intake is paused: ${state.reason ?? 'the audit log is not sealed'}`, {
          extra: { unsealedEvents: state.unsealed, oldestUnsealedAt: state.oldestUnsealedAt, sealMaxAgeSeconds: config.sealMaxAgeSeconds },
        })
      : undefined),
    runOnce,
    sealOnce: () => sealOnce(seal),
    check,
    health: () => state,
    async stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      await running?.catch(() => {})
      // Best effort: seal what the stopped services recorded last, so it is not left for the next start.
      await sealPending(seal, 5).catch(() => {})
    },
  }
}

/** The SERVICES factory (src/background.ts). */
export async function auditService(rt: Runtime, opts: { workers: boolean }): Promise<Service> {
  return await createAuditService(rt, { workers: opts.workers })
}
