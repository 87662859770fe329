// Logging of backing-service outages: one warning when a component loses Redis or PostgreSQL, one
// line when it has it back, whatever the number of errors and reconnection attempts in between.
// Without a listener BullMQ and ioredis print raw traces to the console for every attempt.
import type { Logger } from 'pino'
import { isConnectionError } from './store/db.ts'

export type BackingService = 'redis' | 'postgres'

/** The up/down state of one component's connection, logged once per change. */
export class OutageLog {
  #down = false
  constructor (private readonly log: Logger, readonly component: string, readonly service: BackingService) {}

  get down (): boolean {
    return this.#down
  }

  /** The component saw an error: logs a warning if it was up. */
  fail (err: unknown): void {
    if (this.#down) return
    this.#down = true
    const e = err as { message?: string; code?: string }
    this.log.warn({ component: this.component, service: this.service, error: e?.message ?? String(err), code: e?.code },
      `${this.component}: ${this.service} unreachable; retrying until it is back`)
  }

  /** The component works again: logs it if it was down. */
  recover (): void {
    if (!this.#down) return
    this.#down = false
    this.log.info({ component: this.component, service: this.service }, `${this.component}: ${this.service} reachable again`)
  }
}

interface Emitter {
  on(event: 'error', listener: (err: Error) => void): unknown
}
interface Connection {
  on(event: 'ready', listener: () => void): unknown
}

/**
 * Gives `emitter` (an ioredis connection, a BullMQ queue or worker) an 'error' listener that
 * logs connection errors through `log` once per outage, and recovers when `connection` is ready
 * again. Other errors (a job's keys gone after Redis lost its data, say) are logged as they come.
 */
export function watchRedis (log: Logger, component: string, emitter: Emitter, connection?: Connection): OutageLog {
  const outage = new OutageLog(log, component, 'redis')
  emitter.on('error', (err) => {
    if (isConnectionError(err)) outage.fail(err)
    else log.warn({ component, err }, `${component}: ${err.message}`)
  })
  ;(connection ?? (emitter as unknown as Connection)).on('ready', () => outage.recover())
  return outage
}
