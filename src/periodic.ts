// The one periodic loop of the process: the sealer, the self-check, the reconciler, the deadline
// watcher and the refusal counter flush all run on it.

export interface EveryOptions {
  /** Receives what a run threw; the loop goes on. */
  onError: (err: unknown) => void
  /** Run once at once rather than after the first interval. @defaultValue false */
  immediately?: boolean
}

export interface Periodic {
  /** Cancels the next run and waits for a run in progress. Idempotent. */
  stop(): Promise<void>
}

/**
 * Runs `task` every `intervalMs` (ms) counted from the end of the previous run, so two runs never
 * overlap however long one takes. The timer does not keep the process alive: the pools, the
 * listener and the workers do.
 */
export function every (intervalMs: number, task: () => Promise<unknown>, opts: EveryOptions): Periodic {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let stopped = false
  const run = (): void => {
    timer = undefined
    running = task()
      .then(() => undefined, opts.onError)
      .finally(() => {
        running = undefined
        schedule()
      })
  }
  const schedule = (): void => {
    if (stopped) return
    timer = setTimeout(run, intervalMs)
    timer.unref()
  }
  if (opts.immediately) run()
  else schedule()
  return {
    async stop () {
      stopped = true
      if (timer) clearTimeout(timer)
      await running
    },
  }
}

/** Rows a periodic task handles between two turns it leaves to requests (`breathe`). */
export const BREATH_EVERY = 128

/**
 * Lets requests waiting on the event loop run: a periodic task that walks many rows (sealing, the
 * self-check) calls it every `BREATH_EVERY` rows, so a long round costs intake no latency spike.
 */
export async function breathe (): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve))
}
