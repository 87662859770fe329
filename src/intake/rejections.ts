// Refusals of requests whose sender nobody verified are counted, not logged one by one: an
// anonymous client must not be able to grow the append-only audit log (and push the sealer toward
// fail-closed) by sending garbage. Counts live in Redis, shared by every gateway, keyed by source
// address and window; once a window has ended, one `intake.rejected-aggregate` event per source
// records its counts by problem code. Refusals of an identified agency stay one event each (A2).
import type { Redis } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import { recordEvent } from '../audit/record.ts'
import type { Clock } from '../config/clock.ts'
import type { Pool } from '../store/db.ts'

/** Takes one window's counts and forgets them, atomically (two gateways never both record it). */
const TAKE = 'local h = redis.call(\'HGETALL\', KEYS[1]) redis.call(\'DEL\', KEYS[1]) redis.call(\'SREM\', KEYS[2], ARGV[1]) return h'

export interface RejectionCounterOptions {
  redis: Redis
  pool: Pool
  clock: Clock
  /** Redis key prefix (LEIX_QUEUE_PREFIX). */
  prefix: string
  log: FastifyBaseLogger
  /** Window length, ms. @defaultValue 60000 */
  windowMs?: number
}

export class RejectionCounter {
  readonly #o: Required<RejectionCounterOptions>
  constructor (o: RejectionCounterOptions) {
    this.#o = { windowMs: 60_000, ...o }
  }

  #pending (): string {
    return `${this.#o.prefix}:rejections:pending`
  }

  #key (member: string): string {
    return `${this.#o.prefix}:rejections:${member}`
  }

  /** Counts one refusal of an unidentified request from `source` (a client address) with `code`. */
  async count (source: string, code: string): Promise<void> {
    const { windowMs, redis } = this.#o
    const start = Math.floor(this.#o.clock.now().getTime() / windowMs) * windowMs
    const member = `${start}|${source.slice(0, 64)}`
    try {
      await redis.multi().hincrby(this.#key(member), code, 1).pexpire(this.#key(member), windowMs * 60).sadd(this.#pending(), member).exec()
    } catch (err) {
      // Not recorded one by one instead: that is exactly the amplification this avoids.
      this.#o.log.warn({ err, code }, 'could not count a refused unidentified request (Redis)')
    }
  }

  /** Records one event per source for every window that has ended; returns how many. */
  async flush (): Promise<number> {
    const { windowMs, redis, pool, clock } = this.#o
    const now = clock.now()
    const members = await redis.smembers(this.#pending())
    let recorded = 0
    for (const member of members) {
      const bar = member.indexOf('|')
      const start = Number(member.slice(0, bar))
      if (!(start + windowMs <= now.getTime())) continue
      const flat = (await redis.eval(TAKE, 2, this.#key(member), this.#pending(), member)) as string[]
      if (flat.length === 0) continue
      const details: Record<string, string | number> = {
        source: member.slice(bar + 1), windowStart: new Date(start).toISOString(), windowEnd: new Date(start + windowMs).toISOString(),
      }
      let total = 0
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const n = Number(flat[i + 1])
        details[`count.${flat[i]}`] = n
        total += n
      }
      details.total = total
      await recordEvent(pool, {
        type: 'intake.rejected-aggregate', actor: { kind: 'broker' }, agencies: [], outcome: 'rejected', reason: 'unidentified-sender', details,
      }, now)
      recorded++
    }
    return recorded
  }
}
