import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import type { Metrics } from '../observability/metrics.ts'
import { auditEvent, insertEvents, recordEvent, type AuditActor } from '../audit/record.ts'
import type { Clock } from '../config/clock.ts'
import type { Config } from '../config/config.ts'
import type { SigningKey } from '../config/keys.ts'
import type { Directory } from '../directory/types.ts'
import { lockOpenedExchange } from '../exchanges/exchanges-repository.ts'
import { canTransition, changeStatus, transitionPart } from '../exchanges/state.ts'
import { withTransaction, type Client, type Pool } from '../store/db.ts'
import { withParts } from '../store/statement.ts'
import { budgetFor, nextAttemptAt } from './budget.ts'
import { createNotifications } from './notifications.ts'
import { messageEventBase } from './message-row.ts'
import {
  attemptDelivered, attemptFailed, countAttempt, interruptAttempt, lockMessage, markDelivered, markUndeliverable, openAttempts, scheduleNextAttempt, startAttempt,
  type MessageRow,
} from './messages-repository.ts'
import { signDelivery } from './signature.ts'
import { postWebhook, type WebhookOutcome } from './webhook.ts'

/** What the delivery worker needs; built once per process by the delivery service. */
export interface DeliveryDeps {
  pool: Pool
  directory: Directory
  clock: Clock
  brokerKey: SigningKey
  /** The process's keep-alive agent for webhooks. */
  agent: Dispatcher
  config: Pick<Config, 'deliveryMaxAttempts' | 'deliveryMaxElapsedSeconds' | 'deliveryBackoffMs' | 'deliveryTimeoutMs'>
  /** Attempts, failures and undeliverables are counted here when given. */
  metrics?: Metrics
  /** Failed attempts (warn) and undeliverables (error) are logged here, with the message's ids. */
  log?: Logger
}

/** What became of one delivery job. */
export type DeliveryStep =
  /** Nothing more for this job: delivered, waiting in a pull inbox, undeliverable, or not due (a duplicate). */
  | { kind: 'done'; outcome: 'delivered' | 'inbox' | 'undeliverable' | 'not-due'; notify: string[] }
  /** Try again after `delayMs` (a retry, or another worker's attempt may still be in flight). */
  | { kind: 'later'; delayMs: number; reason: 'retry' | 'in-flight'; notify: string[] }

/**
 * An attempt left open longer than the HTTP timeout plus this margin belongs to a worker that
 * died: it is closed as interrupted. Until then another worker may still be waiting for the
 * answer, and a second POST would only make the recipient deduplicate.
 */
export const ATTEMPT_LEASE_MARGIN_MS = 1000

const BROKER: AuditActor = { kind: 'broker' }

/**
 * Locks the message row, then reads its open attempts in a second statement. Not one statement:
 * under READ COMMITTED a `SELECT … FOR UPDATE` that waited for the lock re-reads the locked row
 * but evaluates its subqueries against the snapshot taken before the wait, so two concurrent
 * claims would both see no open attempt and both POST. The second statement takes a fresh
 * snapshot after the lock is held, so it sees the attempt the other claim committed.
 */
async function lockMessageForClaim (client: Client, id: string): Promise<(MessageRow & { open: { attempt: number; started_at: Date }[] }) | undefined> {
  const m = await lockMessage(client, id)
  if (!m) return undefined
  return { ...m, open: await openAttempts(client, id) }
}

const common = (m: MessageRow) => messageEventBase(m, BROKER)

interface Claim {
  message: MessageRow
  attempt: number
  startedAt: Date
  webhook?: string
  /** Set when no POST can be made at all (payload erased, agency gone): a permanent failure. */
  preflight?: string
}

/**
 * One delivery job, idempotent by message id: (1) claim the attempt in PostgreSQL — the message
 * must still be `accepted`; (2) POST the sender's JWS to the recipient's webhook; (3) record the
 * outcome and move the message and its exchange, each with its audit events in the same
 * transaction. Pull agencies get nothing pushed: the message waits in their inbox.
 */
export async function deliverMessage (deps: DeliveryDeps, messageId: string): Promise<DeliveryStep> {
  const claimed = await withTransaction(deps.pool, (client) => claim(deps, client, messageId))
  if ('kind' in claimed) return claimed
  let outcome: WebhookOutcome
  if (claimed.preflight || !claimed.webhook || !claimed.message.jws) {
    outcome = { ok: false, permanent: true, error: claimed.preflight ?? 'no webhook', durationMs: 0 }
  } else {
    const m = claimed.message
    const signature = signDelivery({
      messageId: m.id, exchangeId: m.exchange_id, sender: m.sender, recipient: m.recipient, kind: m.kind,
      digest: m.digest, attempt: claimed.attempt, sentAt: claimed.startedAt.toISOString(),
    }, deps.brokerKey)
    outcome = await postWebhook(deps.agent, claimed.webhook, m.jws as string, {
      'content-type': 'application/jose',
      'leix-message-id': m.id,
      'leix-exchange-id': m.exchange_id,
      'leix-message-kind': m.kind,
      'leix-delivery-attempt': String(claimed.attempt),
      'leix-delivery-signature': signature,
    }, deps.config.deliveryTimeoutMs)
  }
  const m = claimed.message
  const status = outcome.httpStatus !== undefined ? String(outcome.httpStatus) : 'error'
  deps.metrics?.deliveryAttempts.inc({ recipient: m.recipient, status })
  if (outcome.ok) return recordDelivered(deps, claimed, outcome)
  deps.metrics?.deliveryFailures.inc({ recipient: m.recipient, status })
  const log = deps.log?.child({ messageId: m.id, exchangeId: m.exchange_id })
  // The error text is the transport's or the agency's status line, never the payload.
  log?.warn({ recipient: m.recipient, status, attempt: claimed.attempt, permanent: outcome.permanent ?? false, error: outcome.error ?? null }, 'delivery attempt failed')
  const step = await withTransaction(deps.pool, (client) => recordOutcome(deps, client, claimed, outcome))
  if (step.kind === 'done' && step.outcome === 'undeliverable') {
    deps.metrics?.undeliverable.inc({ recipient: m.recipient })
    log?.error({ recipient: m.recipient, status, attempts: claimed.attempt }, 'message undeliverable: the sender and the recipient are notified')
  }
  return step
}

/**
 * A 2xx, in one autocommit statement (the common case, so the hot path): the attempt ends, the
 * message is delivered — unless it was acknowledged through the inbox meanwhile, which keeps its
 * status — the exchange it opened moves to `delivered` where the state machine allows
 * (TRANSITIONS.delivered.from), and `delivery.succeeded` is recorded, all or nothing.
 */
async function recordDelivered (deps: DeliveryDeps, c: Claim, outcome: WebhookOutcome): Promise<DeliveryStep> {
  const now = deps.clock.now()
  const m = c.message
  const details = { attempt: c.attempt, mode: 'push', httpStatus: outcome.httpStatus ?? null, durationMs: outcome.durationMs }
  const events = [auditEvent({ ...common(m), type: 'delivery.succeeded', outcome: 'ok', recipients: [m.recipient], details }, now)]
  const message = markDelivered(m.id, now)
  const commit = withParts([
    ['prev', message.lock],
    ['message', message.delivered('prev')],
    ['attempt', attemptDelivered(m.id, c.attempt, now, outcome.httpStatus ?? null)],
    ['exchange', transitionPart('delivered', { exchangeId: m.exchange_id, messageId: m.id, at: now, guard: { cte: 'message', column: 'was', in: ['accepted', 'undeliverable'] } })],
  ], insertEvents(events))
  await deps.pool.query(commit.text, commit.values)
  return { kind: 'done', outcome: 'delivered', notify: [] }
}

async function claim (deps: DeliveryDeps, client: Client, messageId: string): Promise<Claim | DeliveryStep> {
  const now = deps.clock.now()
  const m = await lockMessageForClaim(client, messageId)
  // Delivered, acknowledged, undeliverable, held or rejected: a duplicate or stale job does nothing.
  if (!m || m.status !== 'accepted') return { kind: 'done', outcome: 'not-due', notify: [] }
  const agency = deps.directory.agencies.get(m.recipient)
  if (agency?.delivery.mode === 'pull') {
    if (m.next_attempt_at !== null) {
      await scheduleNextAttempt(client, m.id, null, now)
      await recordEvent(client, { ...common(m), type: 'delivery.queued', outcome: 'ok', details: { mode: 'pull' } }, now)
    }
    return { kind: 'done', outcome: 'inbox', notify: [] }
  }
  for (const a of m.open) {
    const leaseEnd = a.started_at.getTime() + deps.config.deliveryTimeoutMs + ATTEMPT_LEASE_MARGIN_MS
    if (leaseEnd > now.getTime()) return { kind: 'later', delayMs: leaseEnd - now.getTime(), reason: 'in-flight', notify: [] }
    await interruptAttempt(client, m.id, a.attempt, now)
    await recordEvent(client, { ...common(m), type: 'delivery.failed', outcome: 'failed', reason: 'interrupted', details: { attempt: a.attempt, mode: 'push' } }, now)
  }
  const attempt = m.attempts + 1
  // The attempt row, the counters and its event in one statement: this is the hot path.
  const events = [auditEvent({ ...common(m), type: 'delivery.attempted', outcome: 'pending', recipients: [m.recipient], details: { attempt, mode: 'push' } }, now)]
  const started = withParts([['attempt', startAttempt(m.id, attempt, now)], ['counters', countAttempt(m.id, attempt, now)]], insertEvents(events))
  await client.query(started.text, started.values)
  const result: Claim = { message: m, attempt, startedAt: now }
  if (!agency) result.preflight = `agency ${m.recipient} is no longer in the directory`
  else if (!m.jws) result.preflight = 'the payload was erased before delivery'
  else if (agency.delivery.webhook) result.webhook = agency.delivery.webhook
  return result
}

/** A failed attempt: retry after a backoff, or undeliverable once the budget is spent or the refusal is permanent. */
async function recordOutcome (deps: DeliveryDeps, client: Client, c: Claim, outcome: WebhookOutcome): Promise<DeliveryStep> {
  const now = deps.clock.now()
  const m = await lockMessage(client, c.message.id)
  if (!m) return { kind: 'done', outcome: 'not-due', notify: [] }
  await attemptFailed(client, m.id, c.attempt, now, outcome.httpStatus ?? null, outcome.error ?? null)
  const base = common(m)
  const details = { attempt: c.attempt, mode: 'push', httpStatus: outcome.httpStatus ?? null, durationMs: outcome.durationMs }
  await recordEvent(client, {
    ...base, type: 'delivery.failed', outcome: 'failed', reason: outcome.permanent ? 'permanent' : 'retryable',
    details: { ...details, error: outcome.error ?? null },
  }, now)
  if (m.status !== 'accepted') return { kind: 'done', outcome: 'not-due', notify: [] }
  const budget = budgetFor(deps.config, deps.directory.agencies.get(m.recipient))
  const next = outcome.permanent
    ? null
    : nextAttemptAt(budget, { attemptsInBudget: m.budget_attempts, budgetFrom: m.delivery_budget_from ?? m.received_at, now })
  if (next) {
    await scheduleNextAttempt(client, m.id, next, now)
    return { kind: 'later', delayMs: Math.max(0, next.getTime() - now.getTime()), reason: 'retry', notify: [] }
  }
  await markUndeliverable(client, m.id, now)
  const reason = outcome.permanent ? `permanent failure (${outcome.error ?? 'refused'})` : 'delivery budget spent'
  await recordEvent(client, {
    ...base, type: 'delivery.undeliverable', outcome: 'failed', reason: outcome.permanent ? 'permanent' : 'budget-spent',
    details: { attempts: m.budget_attempts, lastError: outcome.error ?? null, maxAttempts: budget.maxAttempts, maxElapsedSeconds: budget.maxElapsedMs / 1000 },
  }, now)
  await moveOpenedExchange(client, m, 'undeliverable', now)
  const notify = await createNotifications(client, deps.directory, {
    type: 'delivery.undeliverable', agencies: [m.sender, m.recipient], exchangeId: m.exchange_id, messageId: m.id,
    details: { kind: m.kind, attempts: m.budget_attempts, reason },
  }, now)
  return { kind: 'done', outcome: 'undeliverable', notify }
}

/**
 * The exchange follows its opening message (delivered, undeliverable), but only where the state
 * machine allows it: the exchange may have moved on (answered through another channel, refused).
 */
async function moveOpenedExchange (client: Client, m: MessageRow, event: 'undeliverable', at: Date): Promise<void> {
  const exchange = await lockOpenedExchange(client, m.exchange_id, m.id)
  if (!exchange || !canTransition(exchange.status, event)) return
  await changeStatus(client, exchange, event, at)
}
