import { Queue } from 'bullmq'
import { Redis } from 'ioredis'

/** Name of the BullMQ queue that carries delivery jobs. Jobs hold `{messageId}` only (no personal data). */
export const DELIVERY_QUEUE = 'deliveries'

export interface DeliveryJob {
  messageId: string
}

/** Opens an ioredis connection suitable for BullMQ (workers need `maxRetriesPerRequest: null`). */
export function createRedis(url: string, opts: { forWorker?: boolean; lazy?: boolean } = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: opts.forWorker ? null : 2,
    enableReadyCheck: true,
    lazyConnect: opts.lazy ?? false,
    // Keep trying to reconnect; health checks report the outage meanwhile.
    retryStrategy: (times) => Math.min(times * 200, 2000),
  })
}

/** Fails unless Redis evicts nothing: BullMQ would silently lose jobs otherwise (DESIGN.md). */
export async function checkNoEviction(redis: Redis): Promise<string | undefined> {
  const reply = (await redis.config('GET', 'maxmemory-policy')) as string[]
  const policy = reply[1]
  return policy === 'noeviction' ? undefined : `Redis maxmemory-policy is ${policy ?? 'unknown'}; leix requires noeviction`
}

/** The producer side of delivery: the gateway, the reconciler and redelivery add jobs here. */
export class DeliveryQueue {
  readonly queue: Queue<DeliveryJob>
  constructor(connection: Redis, prefix: string) {
    this.queue = new Queue<DeliveryJob>(DELIVERY_QUEUE, { connection, prefix })
  }

  /**
   * Enqueues a delivery with `jobId = messageId`, so a message already waiting is not added twice.
   * @param delayMs wait before the first attempt, ms. @defaultValue 0
   */
  async enqueue(messageId: string, delayMs = 0): Promise<void> {
    await this.queue.add('deliver', { messageId }, {
      jobId: messageId,
      delay: Math.max(0, Math.round(delayMs)),
      removeOnComplete: true,
      removeOnFail: true,
      attempts: 1, // retries are scheduled by leix from PostgreSQL, not by BullMQ
    })
  }

  async close(): Promise<void> {
    await this.queue.close()
  }
}
