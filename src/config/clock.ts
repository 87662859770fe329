/** The one source of time. Injected everywhere so deadlines and expiry are testable. */
export interface Clock {
  /** Current time. */
  now(): Date
}

export const systemClock: Clock = { now: () => new Date() }

/** A clock for tests: starts at `start`, moves only when told. */
export class ManualClock implements Clock {
  #ms: number
  constructor (start: Date | string | number = Date.now()) {
    this.#ms = new Date(start).getTime()
  }

  now (): Date {
    return new Date(this.#ms)
  }

  /** Move forward by `ms` milliseconds. */
  advance (ms: number): void {
    this.#ms += ms
  }

  set (to: Date | string | number): void {
    this.#ms = new Date(to).getTime()
  }
}
