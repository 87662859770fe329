// Assembling an evidence bundle (evidence.ts) from the database, for one party of one exchange.
import { publishedKeys, type SigningKey } from '../config/keys.ts'
import { messagesForEvidence } from '../delivery/messages-repository.ts'
import type { Queryable } from '../store/db.ts'
import { parseCheckpointUnverified } from './checkpoint.ts'
import { hashToBase64, leafHash } from './merkle/hash.ts'
import { inclusionLayout } from './merkle/proof.ts'
import { storedProofs } from './store.ts'
import { EVIDENCE_FORMAT, type EvidenceBundle, type EvidenceMessage } from './evidence.ts'
import { cosignedNote, witnessedCheckpoint } from './witness-service.ts'

/** Message statuses that do not exist for their recipient (held for review, or refused by it). */
const NOT_FOR_RECIPIENT = new Set(['held', 'rejected'])

export class EvidenceUnavailable extends Error {
  override readonly name = 'EvidenceUnavailable'
}

/** A stored line that no longer hashes to its stored leaf: never served. */
export class LeafMismatch extends Error {
  override readonly name = 'LeafMismatch'
}

export interface EvidenceRequest {
  exchangeId: string
  party: string
  /** Whether the caller may read message bodies (role) and gave a justification. */
  bodies: 'yes' | 'justification-required' | 'role'
  /** The checkpoint must carry at least this many cosignatures. */
  witnesses: number
  brokerKey: SigningKey
  now: Date
}

export async function buildEvidence (db: Queryable, req: EvidenceRequest): Promise<EvidenceBundle> {
  const cp = await witnessedCheckpoint(db, req.witnesses)
  if (cp === undefined) throw new EvidenceUnavailable(req.witnesses > 0 ? `no checkpoint has ${req.witnesses} witness cosignature(s) yet` : 'no checkpoint has been signed yet')
  const { payload } = parseCheckpointUnverified(cp.jws)
  const { note } = await cosignedNote(db, req.brokerKey, cp)

  const msgs = await messagesForEvidence(db, req.exchangeId)
  const messages: EvidenceMessage[] = []
  for (const m of msgs) {
    if (m.recipient === req.party && m.sender !== req.party && NOT_FOR_RECIPIENT.has(m.status)) continue
    const omitted: EvidenceMessage['jwsOmitted'] = m.erased_at !== null || m.jws === null ? 'erased' : req.bodies !== 'yes' ? req.bodies : undefined
    messages.push({
      id: m.id, kind: m.kind, from: m.sender, to: m.recipient, digest: m.digest, jws: omitted ? null : m.jws, ...(omitted ? { jwsOmitted: omitted } : {}), receipt: m.receipt,
    })
  }

  const { rows: events } = await db.query<{ seq: string; line: string; leaf_hash: Buffer }>(
    `SELECT seq, line, leaf_hash FROM audit_events
      WHERE exchange_id = $1 AND $2 = ANY (agencies) AND seq IS NOT NULL AND seq < $3 ORDER BY seq`,
    [req.exchangeId, req.party, cp.treeSize])
  const { rows: pending } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM audit_events WHERE exchange_id = $1 AND $2 = ANY (agencies) AND (seq IS NULL OR seq >= $3)',
    [req.exchangeId, req.party, cp.treeSize])
  for (const e of events) {
    // What leaves is what was hashed: re-hash every line against its stored leaf.
    if (!leafHash(Buffer.from(e.line, 'utf8')).equals(e.leaf_hash)) throw new LeafMismatch(`audit event seq ${e.seq}: its line no longer matches its leaf hash`)
  }
  const paths = await storedProofs(db, events.map((e) => inclusionLayout(Number(e.seq), cp.treeSize)))
  return {
    format: EVIDENCE_FORMAT,
    exchangeId: req.exchangeId,
    party: req.party,
    generatedAt: req.now.toISOString(),
    brokerKeys: publishedKeys(req.brokerKey),
    checkpoint: { origin: payload.origin, treeSize: payload.treeSize, rootHash: payload.rootHash, jws: cp.jws, note },
    messages,
    events: events.map((e, i) => ({ seq: Number(e.seq), line: e.line, auditPath: (paths[i] ?? []).map(hashToBase64) })),
    pendingEvents: pending[0]?.n ?? 0,
  }
}
