import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { watchRedis } from '../outage.ts'

/** Name of the BullMQ queue that carries delivery jobs. Jobs hold `{messageId}` only (no personal data). */
export const DELIVERY_QUEUE = 'deliveries'
/** Name of the BullMQ queue that carries notification pushes. Jobs hold `{notificationId}` only. */
export const NOTIFICATION_QUEUE = 'notifications'

export interface DeliveryJob {
  messageId: string
}

export interface NotificationJob {
  notificationId: string
}

/** Opens an ioredis connection suitable for BullMQ (workers need `maxRetriesPerRequest: null`). */
export function createRedis (url: string, opts: { forWorker?: boolean; lazy?: boolean } = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: opts.forWorker ? null : 2,
    enableReadyCheck: true,
    lazyConnect: opts.lazy ?? false,
    // Keep trying to reconnect; health checks report the outage meanwhile.
    retryStrategy: (times) => Math.min(times * 200, 2000),
  })
}

/** Fails unless Redis evicts nothing: BullMQ would silently lose jobs otherwise. */
export async function checkNoEviction (redis: Redis): Promise<string | undefined> {
  const reply = (await redis.config('GET', 'maxmemory-policy')) as string[]
  const policy = reply[1]
  return policy === 'noeviction' ? undefined : `Redis maxmemory-policy is ${policy ?? 'unknown'}; leix requires noeviction`
}

// Retries are scheduled by leix from PostgreSQL (the job is moved back to delayed), never by
// BullMQ's own attempts; finished jobs are removed so that the same id can be enqueued again.
const JOB_OPTIONS = { removeOnComplete: true, removeOnFail: true, attempts: 1 } as const

/**
 * The producer side of delivery: the gateway, the reconciler, redelivery and the deadline watcher
 * add jobs here. The job id is the message (or notification) id, so a message waiting in Redis
 * is never queued twice; PostgreSQL stays the authority on what is due.
 */
export class DeliveryQueue {
  readonly queue: Queue<DeliveryJob>
  readonly notifications: Queue<NotificationJob>
  readonly #redis: Redis
  /** Enqueues waiting for the next `addBulk` (enqueueShared). */
  readonly #shared: { messageId: string; resolve: () => void; reject: (err: unknown) => void }[] = []
  #adding = false
  /** @param log where Redis outages seen by the queues are logged (once per outage). */
  constructor (connection: Redis, prefix: string, log?: Logger) {
    this.#redis = connection
    this.queue = new Queue<DeliveryJob>(DELIVERY_QUEUE, { connection, prefix })
    this.notifications = new Queue<NotificationJob>(NOTIFICATION_QUEUE, { connection, prefix })
    // Without an 'error' listener BullMQ prints every connection error to the console.
    for (const q of [this.queue, this.notifications]) {
      if (log) watchRedis(log, `queue ${q.name}`, q, connection)
      else q.on('error', () => {})
    }
  }

  /**
   * Enqueues a delivery with `jobId = messageId`, so a message already waiting is not added twice.
   * @param delayMs wait before the attempt, ms. @defaultValue 0
   */
  async enqueue (messageId: string, delayMs = 0): Promise<void> {
    await this.queue.add('deliver', { messageId }, { ...JOB_OPTIONS, jobId: messageId, delay: Math.max(0, Math.round(delayMs)) })
  }

  /**
   * `enqueue` (no delay) sharing one round trip: the enqueues that arrive while an `addBulk` runs
   * go together in the next one. Intake's path, where many requests enqueue at once.
   */
  async enqueueShared (messageId: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#shared.push({ messageId, resolve, reject })
      void this.#addShared()
    })
  }

  async #addShared (): Promise<void> {
    if (this.#adding) return
    this.#adding = true
    try {
      while (this.#shared.length > 0) {
        const batch = this.#shared.splice(0, 256)
        try {
          await this.queue.addBulk(batch.map((w) => ({ name: 'deliver', data: { messageId: w.messageId }, opts: { ...JOB_OPTIONS, jobId: w.messageId } })))
          for (const w of batch) w.resolve()
        } catch (err) {
          for (const w of batch) w.reject(err)
        }
      }
    } finally {
      this.#adding = false
    }
  }

  /**
   * Enqueues a delivery to run now: a job already waiting out a backoff is promoted, since
   * adding under the same id would otherwise be ignored (redelivery, release after review).
   */
  async enqueueNow (messageId: string): Promise<void> {
    await this.enqueue(messageId, 0)
    const job = await this.queue.getJob(messageId)
    if (job && (await job.isDelayed())) await job.promote().catch(() => {}) // it may have started meanwhile
  }

  /** Enqueues a notification push with `jobId = notificationId`. @param delayMs ms @defaultValue 0 */
  async enqueueNotification (notificationId: string, delayMs = 0): Promise<void> {
    await this.notifications.add('notify', { notificationId }, { ...JOB_OPTIONS, jobId: notificationId, delay: Math.max(0, Math.round(delayMs)) })
  }

  /** Which of `messageIds` have a delivery job in Redis (in any state). One round trip. */
  async heldDeliveries (messageIds: string[]): Promise<Set<string>> {
    return held(this.#redis, this.queue, messageIds)
  }

  /** Which of `notificationIds` have a push job in Redis (in any state). One round trip. */
  async heldNotifications (notificationIds: string[]): Promise<Set<string>> {
    return held(this.#redis, this.notifications, notificationIds)
  }

  async close (): Promise<void> {
    await Promise.all([this.queue.close(), this.notifications.close()])
  }
}

async function held (redis: Redis, queue: Queue<any>, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set()
  const pipeline = redis.pipeline()
  // A BullMQ job is a hash at `<prefix>:<queue>:<jobId>` for as long as it exists.
  for (const id of ids) pipeline.exists(queue.toKey(id))
  const replies = (await pipeline.exec()) ?? []
  const present = new Set<string>()
  replies.forEach(([err, exists], i) => {
    if (err) throw err
    if (exists === 1) present.add(ids[i] as string)
  })
  return present
}
