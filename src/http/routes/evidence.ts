import type { FastifyInstance } from 'fastify'
import { buildEvidence, EvidenceUnavailable, LeafMismatch } from '../../audit/evidence-build.ts'
import { recordEvents, type AuditEventInput } from '../../audit/record.ts'
import { storeJustification } from '../../audit/justification.ts'
import type { Clock } from '../../config/clock.ts'
import type { SigningKey } from '../../config/keys.ts'
import { findExchange } from '../../exchanges/read.ts'
import type { Pool } from '../../store/db.ts'
import { actorOf, principalOf } from '../auth.ts'
import { DomainError } from '../../errors.ts'
import { problemSchema } from '../problems.ts'
import { JUSTIFICATION_MAX, JUSTIFICATION_MIN, justificationMeta, justificationOf } from './consult.ts'

/**
 * `GET /v1/exchanges/{id}/evidence`: the evidence bundle (audit/evidence.ts) for the caller's agency,
 * one of the exchange's two parties. Others get the same 404 as for a missing exchange, and an
 * `access.denied` event. Each bundle is logged (`evidence.exported`); message bodies are included
 * only for officers and systems who give a justification, each then logged as a consultation.
 */
export async function evidenceRoutes (app: FastifyInstance, deps: { pool: Pool; clock: Clock; brokerKey: SigningKey; defaultWitnesses: number }): Promise<void> {
  app.get<{ Params: { id: string }; Querystring: { witnesses?: number } }>('/v1/exchanges/:id/evidence', {
    schema: {
      summary: "An exchange's evidence bundle for the caller's agency: JWSs (or digests), receipts, its audit events with inclusion proofs to a witnessed checkpoint, the broker keys",
      description:
        'Verify offline with `leix evidence verify FILE [--jwks broker-jwks.json] [--witness-key K ... --witness-threshold k]`. ' +
        '`witnesses`: the checkpoint must carry at least this many cosignatures (default: 1 when witnesses are configured, else 0). ' +
        `Message bodies (the original JWSs) are included for officers and systems that give a justification (${JUSTIFICATION_MIN}..${JUSTIFICATION_MAX} characters, ` +
        'in the Leix-Justification header only), each logged as message.consulted; otherwise only digests. ' +
        'Parties only; every bundle is logged as evidence.exported.',
      tags: ['tracking', 'audit'],
      security: [{ bearer: [] }],
      params: { type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid' } } },
      querystring: {
        type: 'object', additionalProperties: false,
        properties: { witnesses: { type: 'integer', minimum: 0, maximum: 64 } },
      },
      response: { '4xx': { description: 'problem+json', ...problemSchema }, '5xx': { description: 'problem+json', ...problemSchema } },
    },
  }, async (request, reply) => {
    const p = principalOf(request)
    const now = deps.clock.now()
    const actor = actorOf(p)
    const row = await findExchange(deps.pool, request.params.id)
    if (!row || (row.requester !== p.agency && row.responder !== p.agency)) {
      if (row) {
        await recordEvents(deps.pool, [{
          type: 'access.denied', actor, exchangeId: row.id, agencies: [...new Set([p.agency, row.requester, row.responder])],
          outcome: 'denied', reason: 'not-a-party', details: { resource: 'evidence' },
        }], now)
      }
      throw new DomainError('not-found', `no exchange ${request.params.id} for ${p.agency}`)
    }
    const justification = justificationOf(request)
    if (justification !== undefined && (justification.length < JUSTIFICATION_MIN || justification.length > JUSTIFICATION_MAX)) {
      throw new DomainError('justification-required', `a justification must have ${JUSTIFICATION_MIN}..${JUSTIFICATION_MAX} characters`)
    }
    const handles = p.roles.includes('officer') || p.roles.includes('system')
    const bodies = !handles ? 'role' : justification === undefined ? 'justification-required' : 'yes'
    let bundle
    try {
      bundle = await buildEvidence(deps.pool, {
        exchangeId: row.id, party: p.agency, bodies, witnesses: request.query.witnesses ?? deps.defaultWitnesses, brokerKey: deps.brokerKey, now,
      })
    } catch (err) {
      if (err instanceof EvidenceUnavailable) throw new DomainError('not-found', err.message)
      if (err instanceof LeafMismatch) {
        request.log.error({ err }, 'audit line does not match its leaf hash')
        throw new DomainError('internal', 'the audit log failed its integrity check; the bundle is not served')
      }
      throw err
    }
    const included = bundle.messages.filter((m) => m.jws !== null)
    // The sealed log keeps a code, a case reference and a salted hash; the text stays erasable (A3).
    const sealed = justification !== undefined && included.length > 0
      ? await storeJustification(deps.pool, { ...justificationMeta(request), text: justification }, now)
      : undefined
    const events: AuditEventInput[] = included.map((m) => ({
      type: 'message.consulted', actor, exchangeId: row.id, messageId: m.id, agencies: [...new Set([m.from, m.to, p.agency])],
      recipients: [p.agency], legalBasis: row.legal_basis, purpose: row.crime_areas, ...(sealed ? { justification: sealed } : {}), digest: m.digest,
      outcome: 'ok', details: { via: 'GET /v1/exchanges/{id}/evidence' },
    }))
    events.push({
      type: 'evidence.exported', actor, exchangeId: row.id, agencies: [p.agency], outcome: 'ok',
      details: { treeSize: bundle.checkpoint.treeSize, messages: bundle.messages.length, bodies: included.length, events: bundle.events.length, pendingEvents: bundle.pendingEvents },
    })
    // Logged before the bundle leaves.
    await recordEvents(deps.pool, events, now)
    reply.header('cache-control', 'no-store').header('content-disposition', `attachment; filename="leix-evidence-${row.id}-${p.agency}.json"`)
    return bundle
  })
}
