import type { FastifyInstance, FastifyRequest } from 'fastify'
import { CASE_REF_PATTERN, JUSTIFICATION_CODES, isJustificationCode, storeJustification, type JustificationInput } from '../../audit/justification.ts'
import { recordEvent } from '../../audit/record.ts'
import { findForConsultation } from '../../delivery/messages-repository.ts'
import { crimeAreasOf } from '../../exchanges/exchanges-repository.ts'
import { messageViewers } from '../../exchanges/read.ts'
import { jwsPayload } from '../../intake/jws.ts'
import type { Clock } from '../../config/clock.ts'
import { withTransaction, type Pool } from '../../store/db.ts'
import { actorOf, isSupervisor, principalOf, type Principal } from '../auth.ts'
import { hasControlCharacter } from '../../store/input.ts'
import { DomainError } from '../../errors.ts'
import type { Directory } from '../../directory/types.ts'
import { reviewBodyOf } from '../../policy/index.ts'
import { problemSchema } from '../problems.ts'

/** Bounds of a justification, characters (after trimming). */
export const JUSTIFICATION_MIN = 10
export const JUSTIFICATION_MAX = 500
export const JUSTIFICATION_HEADER = 'leix-justification'
/** The justification code (closed list, audit/justification.ts); `other` when absent. */
export const JUSTIFICATION_CODE_HEADER = 'leix-justification-code'
/** An optional case reference (an identifier) the consultation belongs to. */
export const CASE_REF_HEADER = 'leix-case-reference'

/** Code and case reference from their headers; a 400 for a code off the list or a case reference that is not an identifier. */
export function justificationMeta (request: FastifyRequest): { code: JustificationInput['code']; caseRef?: string } {
  const header = (name: string): string | undefined => {
    const v = request.headers[name]
    const s = (Array.isArray(v) ? v[0] : v)?.trim()
    return s === undefined || s.length === 0 ? undefined : s
  }
  const code = header(JUSTIFICATION_CODE_HEADER) ?? 'other'
  if (!isJustificationCode(code)) {
    throw new DomainError('bad-request', `Leix-Justification-Code must be one of ${JUSTIFICATION_CODES.join(', ')}`)
  }
  const caseRef = header(CASE_REF_HEADER)
  if (caseRef !== undefined && !CASE_REF_PATTERN.test(caseRef)) {
    throw new DomainError('bad-request', 'Leix-Case-Reference must be an identifier (letters, digits, / . _ : -, at most 64 characters), not text')
  }
  return { code, ...(caseRef ? { caseRef } : {}) }
}

/** Message statuses whose body the recipient must not see: held for review, or refused by it. */
const NOT_FOR_RECIPIENT = new Set(['held', 'rejected'])

/**
 * The justification from the `Leix-Justification` header (percent-encoded UTF-8 allowed, since
 * header values are Latin-1). Only a header: a query parameter would put it into access logs.
 * Control characters (also percent-encoded ones) are refused.
 */
export function justificationOf (request: FastifyRequest): string | undefined {
  const header = request.headers[JUSTIFICATION_HEADER]
  let raw = Array.isArray(header) ? header[0] : header
  if (raw !== undefined && /%[0-9A-Fa-f]{2}/.test(raw)) {
    try {
      raw = decodeURIComponent(raw)
    } catch {
      // not percent-encoding after all: take it as sent
    }
  }
  if (raw !== undefined && hasControlCharacter(raw)) {
    throw new DomainError('justification-required', 'the justification must not contain control characters')
  }
  const text = raw?.replace(/\s+/g, ' ').trim()
  return text === undefined || text.length === 0 ? undefined : text
}

/**
 * Who may read a message body (rule A1, least privilege), always for their own agency only:
 * - officers, systems and the data-protection officer (`dpo`) of the sender agency;
 * - officers, systems and the `dpo` of the recipient agency, unless the message is held for
 *   review or was rejected by it: then it does not exist for them (D4/D5);
 * - the `dpo` of the review body (instrument `reviewBody`, else `hubReviewBody`) while the message
 *   is held for its review;
 * - a `supervisor` (LEIX_SUPERVISORS), any message: the one cross-agency reader, justified and logged.
 * Auditors and admins see metadata and the log, never bodies. Returns why not, or undefined when allowed.
 */
export function consultationRefusal (p: Principal, m: { sender: string; recipient: string; status: string }, reviewBody?: string): string | undefined {
  if (isSupervisor(p)) return undefined
  // The review body's DPO decides on a held message (D3-D5): it reads what it decides on. Never the
  // recipient's: a held message does not exist for it.
  if (m.status === 'held' && reviewBody !== undefined && p.agency === reviewBody && p.agency !== m.recipient && p.roles.includes('dpo')) return undefined
  const reads = p.roles.includes('officer') || p.roles.includes('system') || p.roles.includes('dpo')
  const visible = p.agency === m.sender || (p.agency === m.recipient && !NOT_FOR_RECIPIENT.has(m.status))
  if (!visible) return p.agency === m.recipient ? 'held-for-review' : 'not-a-party'
  return reads ? undefined : 'role'
}

/** `GET /v1/messages/{id}`: reading a message body is a consultation, justified and logged. */
export async function consultRoutes (app: FastifyInstance, deps: { pool: Pool; clock: Clock; directory: Directory; justificationRetentionDays?: number }): Promise<void> {
  app.get<{ Params: { id: string } }>('/v1/messages/:id', {
    schema: {
      summary: 'Read a message body (a consultation: requires a justification, and is logged)',
      description:
        `Give the reason for reading, ${JUSTIFICATION_MIN}..${JUSTIFICATION_MAX} characters, in the \`Leix-Justification\` header ` +
        '(percent-encode non-ASCII text; nowhere else, so that it stays out of access logs). The read is recorded as a `message.consulted` ' +
        'audit event with the person (token subject), the agency, the justification, the time and the recipients (LED Art. 25). ' +
        `The sealed event keeps the justification code (\`Leix-Justification-Code\`: ${JUSTIFICATION_CODES.join(', ')}; default other), ` +
        'the case reference (`Leix-Case-Reference`, an identifier) and a salted hash of the text; the text itself is kept in an erasable store (A3). ' +
        'Officers, systems and DPOs of the sender and the recipient agency may read; for the recipient a message held for review, or rejected by it, does not exist; ' +
        'the DPO of the review body (the instrument\'s `reviewBody`, else the directory\'s `hubReviewBody`) may read a message held for its review; ' +
        'a supervisor may read any message. Others get 404 and an `access.denied` event. An erased payload answers 410.',
      tags: ['tracking'],
      security: [{ bearer: [] }],
      params: { type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid' } } },
      querystring: { type: 'object', additionalProperties: false, properties: {} },
      headers: {
        type: 'object',
        properties: {
          'leix-justification': { type: 'string', maxLength: 6000 },
          'leix-justification-code': { type: 'string', maxLength: 64 },
          'leix-case-reference': { type: 'string', maxLength: 64 },
        },
      },
      response: {
        200: {
          type: 'object',
          required: ['messageId', 'exchangeId', 'status', 'receivedAt', 'message', 'jws'],
          properties: {
            messageId: { type: 'string' },
            exchangeId: { type: 'string' },
            status: { type: 'string' },
            receivedAt: { type: 'string', format: 'date-time' },
            message: { type: 'object', additionalProperties: true, description: 'the signed message as sent (the JWS payload)' },
            jws: { type: 'string', description: "the sender's compact JWS: verify it with the sender's keys from GET /v1/agencies" },
            consultation: { type: 'object', properties: { eventId: { type: 'string' }, at: { type: 'string' } } },
          },
        },
        '4xx': { description: 'problem+json', ...problemSchema },
      },
    },
  }, async (request) => {
    const principal = principalOf(request)
    const justification = justificationOf(request)
    if (justification === undefined || justification.length < JUSTIFICATION_MIN || justification.length > JUSTIFICATION_MAX) {
      throw new DomainError('justification-required',
        `state why you read this message in the Leix-Justification header (${JUSTIFICATION_MIN}..${JUSTIFICATION_MAX} characters)`)
    }
    const meta = justificationMeta(request)
    const now = deps.clock.now()
    const m = await findForConsultation(deps.pool, request.params.id)
    const actor = actorOf(principal)
    const refusal = m ? consultationRefusal(principal, m, reviewBodyOf(deps.directory, m.legal_basis)) : 'unknown'
    if (!m || refusal !== undefined) {
      if (m) {
        await withTransaction(deps.pool, async (client) => {
          const sealed = await storeJustification(client, { ...meta, text: justification }, now, deps.justificationRetentionDays)
          await recordEvent(client, {
            type: 'access.denied', actor, exchangeId: m.exchange_id, messageId: m.id,
            agencies: messageViewers(m), outcome: 'denied', reason: refusal,
            justification: sealed, details: { resource: 'message-body' },
          }, now)
        })
      }
      // The same answer whether or not it exists: a stranger learns nothing.
      throw new DomainError('not-found', `no message ${request.params.id} readable by ${principal.agency}`)
    }
    if (m.jws === null || m.erased_at !== null) {
      throw new DomainError('payload-erased', `the payload of message ${m.id} was erased${m.erased_at ? ` on ${m.erased_at.toISOString()}` : ''} (retention, rule D7)`)
    }
    const message = jwsPayload(m.jws) as Record<string, unknown>
    const purpose = await crimeAreasOf(deps.pool, m.exchange_id)
    // Logged before the body leaves: a consultation that cannot be logged does not happen.
    const event = await withTransaction(deps.pool, async (client) => {
      const sealed = await storeJustification(client, { ...meta, text: justification }, now, deps.justificationRetentionDays)
      return await recordEvent(client, {
        type: 'message.consulted', actor, exchangeId: m.exchange_id, messageId: m.id,
        agencies: [...new Set([...messageViewers(m), principal.agency])],
        recipients: [principal.agency], legalBasis: m.legal_basis, purpose, justification: sealed, digest: m.digest,
        outcome: 'ok', details: { status: m.status, via: 'GET /v1/messages/{id}' },
      }, now)
    })
    return {
      messageId: m.id, exchangeId: m.exchange_id, status: m.status, receivedAt: m.received_at.toISOString(),
      message, jws: m.jws, consultation: { eventId: event.id, at: event.at },
    }
  })
}
