import type { Config } from '../config/config.ts'
import type { Agency } from '../directory/types.ts'

/** How long and how often leix tries to deliver to one agency. */
export interface DeliveryBudget {
  maxAttempts: number
  maxElapsedMs: number
  /** First retry delay, ms; doubled per attempt. */
  backoffMs: number
}

/** A retry is never put off longer than this, ms, so that a recipient that comes back is served soon. */
export const MAX_BACKOFF_MS = 3_600_000

/** The configured budget, overridden by the agency's own `delivery.maxAttempts` / `maxElapsedSeconds`. */
export function budgetFor (config: Pick<Config, 'deliveryMaxAttempts' | 'deliveryMaxElapsedSeconds' | 'deliveryBackoffMs'>, agency: Agency | undefined): DeliveryBudget {
  return {
    maxAttempts: agency?.delivery.maxAttempts ?? config.deliveryMaxAttempts,
    maxElapsedMs: (agency?.delivery.maxElapsedSeconds ?? config.deliveryMaxElapsedSeconds) * 1000,
    backoffMs: config.deliveryBackoffMs,
  }
}

/**
 * Delay before the next attempt after `attempt` failed ones in this budget: exponential, capped,
 * with "equal jitter" (half fixed, half random) so that recipients coming back are not hit by
 * every waiting message at the same instant.
 * @param random a number in [0, 1) @defaultValue Math.random()
 */
export function backoffDelay (budget: DeliveryBudget, attempt: number, random: number = Math.random()): number {
  const exp = Math.min(budget.backoffMs * 2 ** Math.max(0, attempt - 1), MAX_BACKOFF_MS)
  return Math.round(exp / 2 + (exp / 2) * random)
}

/**
 * After a failed attempt: the time of the next one, or null when the budget is spent (by
 * attempts, or by time since `budgetFrom`). The last retry is pulled in to the end of the time
 * budget rather than skipped, so the time budget always ends with an attempt.
 */
export function nextAttemptAt (budget: DeliveryBudget, o: { attemptsInBudget: number; budgetFrom: Date; now: Date; random?: number }): Date | null {
  if (o.attemptsInBudget >= budget.maxAttempts) return null
  const end = o.budgetFrom.getTime() + budget.maxElapsedMs
  if (o.now.getTime() >= end) return null
  const next = o.now.getTime() + backoffDelay(budget, o.attemptsInBudget, o.random)
  return new Date(Math.min(next, end))
}
