import sjson from 'secure-json-parse'
import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../config/clock.ts'
import type { SigningKey } from '../config/keys.ts'
import type { Directory } from '../directory/types.ts'
import type { DeliveryQueue } from '../delivery/queue.ts'
import { auditEvent, eventRows, recordEvent, type AuditActor, type AuditEventInput } from '../audit/record.ts'
import { findStoredResult, insertMessage, type NewMessage } from '../delivery/messages-repository.ts'
import { deadlineOf } from '../exchanges/exchanges-repository.ts'
import { insertStatement } from '../store/statement.ts'
import type { CommitUnit, GroupCommit } from '../store/group-commit.ts'
import { DomainError } from '../errors.ts'
import { acceptedOpeningLanguages, checkPrinciples, checkSenderBinding, computeDeadline, DEFAULT_TIME_ZONE, retentionCap, type PolicyLimits, type Violation, type Hold } from '../policy/index.ts'
import { transferDetails } from '../policy/legal.ts'
import { withTransaction, type Pool } from '../store/db.ts'
import { applyReply, openExchange } from '../exchanges/record.ts'
import { checkOnward, onwardParts, propagateCorrection } from '../exchanges/lineage.ts'
import { enqueuePushes } from '../delivery/notifications.ts'
import type { Message, MessageValidator } from './message.ts'
import { jwsPayload } from './jws.ts'
import { digestOf, signReceipt } from './receipt.ts'
import { KeyCache, verifyMessageJws, type JwsFacts } from './verify.ts'
import { controlCharacterPath } from '../store/input.ts'
import type { RejectionCounter } from './rejections.ts'

/** What intake needs; the app builds one and shares it. */
export interface IntakeDeps {
  pool: Pool
  directory: Directory
  brokerKey: SigningKey
  clock: Clock
  /** The delivery queue; the app always passes one. If Redis is down, enqueueing fails quietly and the reconciler enqueues later. */
  queue: DeliveryQueue | undefined
  validateMessage: MessageValidator
  limits: PolicyLimits
  log: FastifyBaseLogger
  /** Imported agency keys. @defaultValue a fresh cache */
  keys?: KeyCache
  /** Counts refusals of unidentified senders instead of logging each (src/intake/rejections.ts). */
  rejections?: RejectionCounter
  /**
   * Shares one statement and one COMMIT among concurrent submissions that open an exchange
   * (src/store/group-commit.ts). Without one, each commits on its own.
   */
  commits?: GroupCommit
}

/** Where a submission came from: the agency of a verified client certificate, the client address. */
export interface SubmitChannel {
  channelAgency?: string
  source?: string
}

/** The answer to a submission. */
export interface SubmitResult {
  exchangeId: string
  messageId: string
  /** `accepted` (queued for delivery) or `held` (waiting for review). */
  status: 'accepted' | 'held'
  /** The exchange's answer deadline (T2), or null when none runs. */
  deadline: string | null
  receipt: string
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * The intake pipeline: verify → parse → (idempotency) → validate → check principles → persist
 * (one transaction with its audit events) → enqueue → receipt. A failure at any step throws a
 * DomainError after recording `message.rejected` without the payload (rule A2, A3).
 * Returns `replayed: true` when the same bytes were already accepted: the first result, no new effect.
 */
export async function submitMessage (deps: IntakeDeps, jws: string, channel: SubmitChannel = {}): Promise<{ replayed: boolean; result: SubmitResult }> {
  const receivedAt = deps.clock.now()
  const digest = digestOf(jws)
  const facts: RejectionFacts = {}
  try {
    const verified = await verifyMessageJws(jws, deps.directory, facts, deps.keys, receivedAt)
    if (channel.channelAgency && channel.channelAgency !== verified.agency) {
      throw new DomainError('forbidden', `the client certificate speaks for ${channel.channelAgency}, the signature for ${verified.agency}`, {
        violations: [{ rule: 'S4', path: '/protected/kid', message: 'signing key and client certificate belong to different agencies' }],
      })
    }
    const payload = parsePayload(verified.payload)
    if (typeof payload.id === 'string' && UUID.test(payload.id)) facts.messageId = payload.id.toLowerCase()
    // Text columns and logs never get control characters; free text in the body may have line breaks.
    const { body, ...rest } = payload
    const control = controlCharacterPath(rest) ?? (body === undefined ? undefined : controlCharacterPath(body, { lines: true }, '/body'))
    if (control !== undefined) {
      throw new DomainError('schema-violation', `the message has a control character at ${control}`, { extra: { errors: [{ path: control, message: 'must not contain control characters' }] } })
    }
    readableFacts(payload, deps.directory, facts)
    const validation = deps.validateMessage(payload)
    if (!validation.ok) {
      throw new DomainError('schema-violation', `the message does not match schemas/message.schema.json (${validation.errors.length} error${validation.errors.length === 1 ? '' : 's'})`, {
        extra: { errors: validation.errors },
      })
    }
    const message = { ...validation.message, id: validation.message.id.toLowerCase() }
    const binding = checkSenderBinding(verified.agency, message, deps.directory)
    const { violations, holds } = checkPrinciples(message, { directory: deps.directory, now: receivedAt, limits: deps.limits })
    const all = [...binding, ...violations]
    if (all.length > 0) {
      // P2: the problem names the languages the recipient accepts.
      const languages = all.some((v) => v.rule === 'P2') ? acceptedOpeningLanguages(message, deps.directory) : undefined
      throw new DomainError('principle-violation', `the message breaks ${[...new Set(all.map((v) => v.rule))].join(', ')}`, {
        violations: all, ...(languages ? { extra: { acceptedLanguages: languages } } : {}),
      })
    }
    // D6 (and L5's prior authorisation): the pre-commit read of the origin messages and consents.
    await checkOnward(deps.pool, message, deps.directory)
    let result: Persisted
    try {
      result = await persist(deps, deps.pool, { jws, digest, message, kid: verified.kid, receivedAt, holds })
    } catch (err) {
      // Two submissions of one id raced: the loser answers like a resend.
      if ((err as { code?: string }).code === '23505' && (err as { constraint?: string }).constraint === 'messages_pkey') {
        const previous = await previousResult(deps.pool, message.id, digest)
        if (previous) return { replayed: true, result: previous }
      }
      throw err
    }
    // One line per new message, with its ids and never its body (the operator follows it by id).
    const log = deps.log.child({ messageId: result.messageId, exchangeId: result.exchangeId })
    log.info({ sender: verified.agency, status: result.status }, 'message accepted')
    if (result.status === 'accepted') await enqueueQuietly(deps, message.id, log)
    if (deps.queue && result.notifications.length > 0) await enqueuePushes(deps.queue, result.notifications, log)
    return { replayed: false, result: publicResult(result) }
  } catch (err) {
    if (!(err instanceof DomainError)) throw err
    // A resend of an accepted message answers its first result even if it would fail now (a
    // stale createdAt, a changed directory); the same id with other bytes is a replay (T4).
    // Looked up only on failure: new messages, the common case, cost no extra round trip.
    let problem = err
    if (facts.messageId && problem.code !== 'malformed-json') {
      try {
        const previous = await previousResult(deps.pool, facts.messageId, digest)
        if (previous) return { replayed: true, result: previous }
      } catch (replay) {
        if (!(replay instanceof DomainError)) throw replay
        problem = replay
      }
    }
    await recordRejection(deps, problem, { ...facts, digest }, receivedAt, channel)
    throw problem
  }
}

/** The message JSON, refusing prototype-polluting keys outright. */
function parsePayload (bytes: Uint8Array): Record<string, unknown> {
  let value: unknown
  try {
    value = sjson.parse(Buffer.from(bytes).toString('utf8'), undefined, { protoAction: 'error', constructorAction: 'error' })
  } catch (err) {
    const forbidden = /prototype/i.test((err as Error).message)
    throw new DomainError('malformed-json', forbidden ? 'the payload contains a forbidden key (__proto__ or constructor.prototype)' : 'the payload is not valid JSON')
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new DomainError('malformed-json', 'the payload must be a JSON object')
  return value as Record<string, unknown>
}

/** For a resend of an accepted id: the first result; for a different message under that id: 409 (T4). */
async function previousResult (pool: Pool, messageId: string, digest: string): Promise<SubmitResult | undefined> {
  const row = await findStoredResult(pool, messageId)
  if (!row) return undefined
  if (row.digest !== digest) {
    throw new DomainError('replayed-message-id', `message id ${messageId} was already used for a different message`, {
      violations: [{ rule: 'T4', path: '/id', message: 'replayed id with a different payload' }],
    })
  }
  const receiptStatus = (jwsPayload(row.receipt) as { status: SubmitResult['status'] }).status
  const deadline = await deadlineOf(pool, row.exchange_id)
  return { exchangeId: row.exchange_id, messageId, status: receiptStatus, deadline: deadline?.toISOString() ?? null, receipt: row.receipt }
}

interface Accepted {
  jws: string
  digest: string
  message: Message
  kid: string
  receivedAt: Date
  holds: Hold[]
}

/** A stored submission and the notifications (Q3 corrections) to push after commit. */
type Persisted = SubmitResult & { notifications: string[] }

function publicResult ({ notifications: _, ...result }: Persisted): SubmitResult {
  return result
}

async function persist (deps: IntakeDeps, pool: Pool, a: Accepted): Promise<Persisted> {
  const { message, receivedAt } = a
  const actor: AuditActor = { kind: 'agency-system', agency: message.from.agency, id: message.from.officer, kid: a.kid }
  const status: SubmitResult['status'] = a.holds.length > 0 ? 'held' : 'accepted'
  // A held message does not exist for its recipient (D3-D5): its events list the sender only, and
  // stay so after release (they carry the hold reason); events from the release on list both.
  const agencies = status === 'held' ? [message.from.agency] : [message.from.agency, message.to.agency]
  const instrument = deps.directory.instruments.get(message.legalBasis.instrument)
  if (!instrument) throw new DomainError('principle-violation', 'unknown legal instrument', { violations: [{ rule: 'L1', path: '/legalBasis/instrument', message: 'not in the registry' }] })

  const common = { actor, messageId: message.id, agencies, legalBasis: message.legalBasis.instrument, digest: a.digest }
  const messageEvents = (exchangeId: string, deadline: Date | null): AuditEventInput[] => [
    { ...common, exchangeId, type: 'message.received', outcome: 'ok', details: { kind: message.kind } },
    status === 'held'
      ? {
          ...common, exchangeId, type: 'message.held', outcome: 'held', reason: [...new Set(a.holds.map((h) => h.rule))].join(','),
          violations: a.holds.map((h) => ({ rule: h.rule, path: h.path })),
        }
      : {
          ...common, exchangeId, type: 'message.accepted', outcome: 'ok', recipients: [message.to.agency], purpose: message.crimeAreas,
          details: {
            kind: message.kind, deadline: deadline?.toISOString() ?? null, classification: message.handling.classification, handling: message.handling.code,
            ...transferDetails(message, deps.directory),
          },
        },
  ]
  const stored = (exchangeId: string, receipt: string): NewMessage => ({
    id: message.id, exchangeId, kind: message.kind, sender: message.from.agency, recipient: message.to.agency, officer: message.from.officer,
    inReplyTo: message.inReplyTo ?? null, kid: a.kid, digest: a.digest, jws: a.jws, createdAt: message.createdAt, receivedAt, status,
    classification: message.handling.classification, handlingCode: message.handling.code, legalBasis: message.legalBasis.instrument,
    // D7: a message with only a review-by date is still erased at the instrument's cap.
    eraseBy: message.retention.eraseBy ?? retentionCap(message, receivedAt, instrument).cap.toISOString(), reviewBy: message.retention.reviewBy ?? null,
    holds: a.holds.length > 0 ? a.holds : null, receipt, nextAttemptAt: status === 'accepted' ? receivedAt : null,
  })
  const sign = (exchangeId: string) =>
    signReceipt({ messageId: message.id, exchangeId, digest: a.digest, receivedAt: receivedAt.toISOString(), status }, deps.brokerKey)

  if (message.inReplyTo === undefined) {
    // Opening an exchange touches no existing row: one statement stores the exchange, the
    // message and their events atomically, in a single round trip shared with the other
    // submissions committing at the same moment (group commit), and resolves once durable.
    // T2: the profile and the requested agency's zone are fixed on the exchange now.
    const terms = { profile: instrument.deadlineProfile, timeZone: deps.directory.agencies.get(message.to.agency)?.timeZone ?? DEFAULT_TIME_ZONE }
    const opening = openExchange({ message, status, deadline: computeDeadline(message, receivedAt, instrument, terms.timeZone), receivedAt, terms })
    const receipt = await sign(opening.exchangeId)
    const events = [{ ...opening.event, agencies }, ...messageEvents(opening.exchangeId, opening.deadline)].map((e) => auditEvent(e, receivedAt))
    const unit: CommitUnit = {
      inserts: [opening.insert, insertMessage(stored(opening.exchangeId, receipt)), eventRows(events)],
      parts: onwardParts(message, receivedAt),
    }
    if (deps.commits) await deps.commits.commit(unit)
    else await pool.query(insertStatement([unit]))
    return { exchangeId: opening.exchangeId, messageId: message.id, status, deadline: opening.deadline?.toISOString() ?? null, receipt, notifications: [] }
  }

  // A reply changes its exchange: lock it, check the counterpart and the state machine.
  return withTransaction(pool, async (client) => {
    const recipientLanguages = deps.directory.agencies.get(message.to.agency)?.languages ?? []
    const reply = await applyReply(client, { message, held: status === 'held', receivedAt, instrument, actor, recipientLanguages })
    const receipt = await sign(reply.exchangeId)
    // The message, its events and what it records beside itself (origins, consents): one statement.
    const events = messageEvents(reply.exchangeId, reply.deadline).map((e) => auditEvent(e, receivedAt))
    await client.query(insertStatement([{
      inserts: [insertMessage(stored(reply.exchangeId, receipt)), eventRows(events)],
      parts: onwardParts(message, receivedAt, reply.consentSubject),
    }]))
    // Q3: a correction reaches every agency that got data derived from the corrected message.
    const notifications = status === 'accepted' ? await propagateCorrection(client, deps.directory, { correction: message, exchangeId: reply.exchangeId, actor }, receivedAt) : []
    return { exchangeId: reply.exchangeId, messageId: message.id, status, deadline: reply.deadline?.toISOString() ?? null, receipt, notifications }
  })
}

async function enqueueQuietly (deps: IntakeDeps, messageId: string, log: FastifyBaseLogger): Promise<void> {
  // PostgreSQL already holds the message as due; if Redis fails now the reconciler enqueues it later.
  try {
    if (deps.queue) await deps.queue.enqueueShared(messageId)
  } catch (err) {
    log.warn({ err }, 'enqueue failed; the reconciler will retry')
  }
}

/** What a rejection event may name about a message whose payload could be read. */
type RejectionFacts = JwsFacts & { messageId?: string; recipient?: string; instrument?: string; officer?: string }

const OFFICER_ID = /^[A-Za-z0-9][A-Za-z0-9._@:-]{0,99}$/

/**
 * The intended recipient, instrument and officer of a readable payload, for its rejection event.
 * Only identifiers leix can vouch for go into the log: agencies and instruments of the directory,
 * an officer id of identifier characters (never free text, A3).
 */
function readableFacts (payload: Record<string, unknown>, directory: IntakeDeps['directory'], facts: RejectionFacts): void {
  const field = (o: unknown, key: string): unknown => (o !== null && typeof o === 'object' && !Array.isArray(o) ? (o as Record<string, unknown>)[key] : undefined)
  const to = field(payload.to, 'agency')
  if (typeof to === 'string' && directory.agencies.has(to)) facts.recipient = to
  const instrument = field(payload.legalBasis, 'instrument')
  if (typeof instrument === 'string' && directory.instruments.has(instrument)) facts.instrument = instrument
  const officer = field(payload.from, 'officer')
  if (typeof officer === 'string' && OFFICER_ID.test(officer)) facts.officer = officer
}

async function recordRejection (deps: IntakeDeps, problem: DomainError, facts: RejectionFacts & { digest: string }, at: Date, channel: SubmitChannel): Promise<void> {
  const violations: Violation[] = problem.violations ?? []
  // Only a verified signature or client certificate identifies the sender; a claimed kid does not.
  const agency = facts.verified ? facts.agency : channel.channelAgency
  if (!agency && deps.rejections) {
    await deps.rejections.count(channel.source ?? 'unknown', problem.code)
    return
  }
  try {
    await recordEvent(deps.pool, {
      type: 'message.rejected',
      actor: agency
        ? { kind: 'agency-system', agency, ...(facts.officer ? { id: facts.officer } : {}), ...(facts.kid && facts.verified ? { kid: facts.kid } : {}) }
        : { kind: 'agency-system' },
      ...(facts.messageId && agency ? { messageId: facts.messageId } : {}),
      // The sender sees its rejection; the intended recipient is named, not told (it never got the message).
      agencies: agency ? [agency] : [],
      ...(facts.recipient && agency ? { recipients: [facts.recipient] } : {}),
      ...(facts.instrument && agency ? { legalBasis: facts.instrument } : {}),
      digest: facts.digest,
      outcome: 'rejected',
      reason: problem.code,
      ...(violations.length ? { violations: violations.map((v) => ({ rule: v.rule, path: v.path })) } : {}),
    }, at)
  } catch (err) {
    deps.log.error({ err }, 'could not record a rejection event')
  }
}
