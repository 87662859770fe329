import type { AuditActor, AuditEventInput } from '../audit/record.ts'

/** What every audit event about one message names, as its row holds it. */
export type MessageEventBase = Pick<AuditEventInput, 'actor' | 'exchangeId' | 'messageId' | 'agencies' | 'legalBasis' | 'digest'>

/**
 * The base of an audit event about a message: its exchange, id, legal basis and digest, and the
 * agencies it concerns — sender and recipient unless given (review decisions and retention name
 * fewer, see `messageViewers`).
 */
export function messageEventBase (
  m: { id: string; exchange_id: string; sender: string; recipient: string; legal_basis: string; digest: string },
  actor: AuditActor,
  agencies: string[] = [m.sender, m.recipient]
): MessageEventBase {
  return { actor, exchangeId: m.exchange_id, messageId: m.id, agencies, legalBasis: m.legal_basis, digest: m.digest }
}
