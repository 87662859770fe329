import { DelayedError, Worker, type Job } from 'bullmq'
import type { Redis } from 'ioredis'
import pino, { type Logger } from 'pino'
import type { Agent } from 'undici'
import type { Service } from '../background.ts'
import { DeadlineWatcher, parseDeadlineWarnings } from '../exchanges/deadlines.ts'
import type { ReadinessCheck } from '../readiness.ts'
import type { Runtime } from '../runtime.ts'
import { deliverMessage, type DeliveryDeps } from './deliver.ts'
import { enqueuePushes, pushNotification } from './notifications.ts'
import { createRedis, DELIVERY_QUEUE, NOTIFICATION_QUEUE, type DeliveryJob, type NotificationJob } from './queue.ts'
import { Reconciler } from './reconciler.ts'
import { OutageLog, watchRedis } from '../outage.ts'
import { every, type Periodic } from '../periodic.ts'
import { isConnectionError } from '../store/db.ts'
import { createWebhookAgent } from './webhook.ts'

export interface DeliveryServiceOptions {
  /** Run the workers, the reconciler and the deadline watcher here (false for `leix gateway`). */
  workers: boolean
  /** Run the reconciler and watcher on their interval; tests turn this off and call `runOnce()`. @defaultValue true */
  timers?: boolean
  /** Logger for background work. @defaultValue pino at the configured level */
  log?: Logger
}

/** How long a job waits before it is tried again when PostgreSQL or Redis is unreachable, ms. */
const CONNECTION_RETRY_MS = 2000

/**
 * Delivery as a background service: the BullMQ workers that push messages and notifications, the
 * reconciler and the deadline watcher (the inbox, notification and admin routes are registered by
 * app.ts on the runtime's queue). Stopping closes the workers first — BullMQ waits for the jobs
 * in progress, each bounded by `deliveryTimeoutMs` — so nothing is lost: a job not started stays
 * in Redis, and PostgreSQL still says what is due if Redis loses it.
 */
export class DeliveryService implements Service {
  readonly reconciler: Reconciler
  readonly watcher: DeadlineWatcher
  readonly readiness?: ReadinessCheck
  readonly #log: Logger
  readonly #pgOutage: OutageLog
  readonly #workers: Worker<any>[] = []
  readonly #periodic: Periodic[] = []
  #connection: Redis | undefined
  #agent: Agent | undefined
  #stopping: Promise<void> | undefined

  constructor (rt: Runtime, opts: DeliveryServiceOptions) {
    const { config } = rt
    this.#log = opts.log ?? pino({ level: config.logLevel, name: 'delivery' })
    this.#pgOutage = new OutageLog(this.#log, 'delivery workers', 'postgres')
    const push = (ids: string[]) => enqueuePushes(rt.queue, ids, this.#log)
    this.reconciler = new Reconciler({ pool: rt.pool, queue: rt.queue, clock: rt.clock, directory: rt.directory, metrics: rt.metrics })
    this.watcher = new DeadlineWatcher({ pool: rt.pool, clock: rt.clock, directory: rt.directory, nonDeliverySeconds: config.nonDeliverySeconds, push, warnings: parseDeadlineWarnings(config.deadlineWarnings ?? '') })
    if (!opts.workers) return
    this.#agent = createWebhookAgent(config)
    // Workers block on Redis, so they need their own connection without a retry limit per request.
    this.#connection = createRedis(config.redisUrl, { forWorker: true })
    watchRedis(this.#log, 'worker connection', this.#connection) // ioredis reconnects; readiness reports it
    const deps: DeliveryDeps = { pool: rt.pool, directory: rt.directory, clock: rt.clock, brokerKey: rt.brokerKey, agent: this.#agent, config, metrics: rt.metrics, log: this.#log }
    const workerOptions = {
      connection: this.#connection,
      prefix: config.queuePrefix,
      lockDuration: config.deliveryLockMs,
      stalledInterval: config.deliveryStalledIntervalMs,
    }
    this.#workers.push(new Worker<DeliveryJob>(DELIVERY_QUEUE, async (job: Job<DeliveryJob>, token?: string) => {
      const step = await this.#orLater(job, token, () => deliverMessage(deps, job.data.messageId))
      await push(step.notify)
      if (step.kind === 'later') return this.#later(job, token, step.delayMs)
      return step.outcome
    }, { ...workerOptions, concurrency: config.workerConcurrency }))
    this.#workers.push(new Worker<NotificationJob>(NOTIFICATION_QUEUE, async (job: Job<NotificationJob>, token?: string) => {
      const delayMs = await this.#orLater(job, token, () => pushNotification({ ...deps }, job.data.notificationId))
      if (delayMs !== undefined) await this.#later(job, token, delayMs)
    }, { ...workerOptions, concurrency: Math.max(1, Math.ceil(config.workerConcurrency / 4)) }))
    for (const worker of this.#workers) {
      watchRedis(this.#log, `worker ${worker.name}`, worker, this.#connection)
      // Unexpected failures only (a bug; outages make the job wait, see #orLater): the job is removed and the reconciler
      // puts it back from PostgreSQL, which still says the message is due.
      worker.on('failed', (job, err) => this.#log.error({ err, jobId: job?.id }, 'delivery job failed; the reconciler will retry it'))
    }
    this.readiness = {
      name: 'delivery-workers',
      check: async () => (this.#workers.every((w) => w.isRunning()) ? undefined : 'delivery workers are not running'),
    }
    if (opts.timers ?? true) {
      this.#periodic.push(
        this.#loop('reconciler', () => this.reconciler.runOnce(), config.reconcileIntervalMs),
        this.#loop('deadline watcher', () => this.watcher.runOnce(), config.reconcileIntervalMs)
      )
    }
  }

  /** Runs `task` now and then every `intervalMs`; an outage is logged once, and the loop recovers by itself. */
  #loop (name: string, task: () => Promise<unknown>, intervalMs: number): Periodic {
    const outage = new OutageLog(this.#log, name, 'postgres')
    return every(intervalMs, () => task().then(() => outage.recover()), {
      immediately: true,
      onError: (err) => {
        if (isConnectionError(err)) outage.fail(err)
        else this.#log.error({ err }, `${name} failed; will run again`)
      },
    })
  }

  /**
   * Runs one job step; if PostgreSQL (or Redis) is unreachable, the job waits and is tried again
   * rather than failing: the step did nothing it cannot redo (a claim that did commit is an open
   * attempt, closed as interrupted after its lease).
   */
  async #orLater<T>(job: Job<any>, token: string | undefined, step: () => Promise<T>): Promise<T> {
    try {
      const result = await step()
      this.#pgOutage.recover()
      return result
    } catch (err) {
      if (!isConnectionError(err)) throw err
      this.#pgOutage.fail(err)
      return await this.#later(job, token, CONNECTION_RETRY_MS)
    }
  }

  /** Puts the job back as delayed (same job id, so nothing can queue it twice meanwhile). */
  async #later (job: Job<any>, token: string | undefined, delayMs: number): Promise<never> {
    // BullMQ schedules in wall-clock time; the delay itself was computed with the injected clock.
    await job.moveToDelayed(Date.now() + Math.max(0, Math.round(delayMs)), token)
    throw new DelayedError()
  }

  /** Resolves once the workers are connected to Redis. */
  async ready (): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.waitUntilReady()))
  }

  /** Stops timers, then closes the workers (waiting for jobs in progress), the agent and the connection. Idempotent. */
  stop (): Promise<void> {
    this.#stopping ??= (async () => {
      await Promise.all(this.#periodic.map((p) => p.stop()))
      await Promise.all(this.#workers.map((w) => w.close()))
      await this.#agent?.close().catch(() => {})
      if (this.#connection) await this.#connection.quit().catch(() => this.#connection?.disconnect())
    })()
    return this.#stopping
  }
}

/** Starts delivery (src/background.ts); all or nothing: if the workers cannot start, they are stopped. */
export async function startDelivery (rt: Runtime, opts: DeliveryServiceOptions): Promise<DeliveryService> {
  const service = new DeliveryService(rt, opts)
  try {
    await service.ready()
  } catch (err) {
    await service.stop() // all or nothing: no worker left running
    throw err
  }
  return service
}
