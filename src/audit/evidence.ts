// The evidence bundle of one exchange for one of its parties: one JSON file that a court, a DPO or
// an oversight body can check with nothing else — no database, no network.
//
// It holds the original JWSs the party may read (or only their digests: erased, held from the
// recipient, or no justification given), the broker's receipts over them, the party's audit events
// as canonical lines with RFC 9162 inclusion proofs to one checkpoint, that checkpoint as a broker
// JWS and as a C2SP signed note with its witness cosignatures, and the broker's public keys.
import { compactVerify, createLocalJWKSet, type JWK } from 'jose'
import { isCanonical } from './canonical.ts'
import { checkpointRoot, checkpointVerifier, type VerifiedCheckpoint } from './checkpoint.ts'
import { leafHash, parseHashBase64 } from './merkle/hash.ts'
import { verifyInclusion } from './merkle/verify.ts'
import { logNoteKeysFromJwks, verifyCheckpointNote } from './note.ts'
import { checkWitnessPolicy, type WitnessPolicy } from './witness.ts'
import { digestOf, RECEIPT_TYP, type ReceiptBody } from '../intake/receipt.ts'

export const EVIDENCE_FORMAT = 'leix-evidence/v1'

export interface EvidenceMessage {
  id: string
  kind: string
  from: string
  to: string
  /** base64url SHA-256 of the exact JWS bytes leix received. */
  digest: string
  /** The sender's compact JWS, or null (see `jwsOmitted`). */
  jws: string | null
  jwsOmitted?: 'erased' | 'not-for-recipient' | 'justification-required' | 'role'
  /** The broker's receipt (compact JWS, typ leix-receipt+json). */
  receipt: string
}

export interface EvidenceEvent {
  seq: number
  /** The canonical line (RFC 8785) exactly as hashed: leaf = SHA-256(0x00 || line). */
  line: string
  /** Inclusion proof to `checkpoint.treeSize`, nearest the leaf first (base64). */
  auditPath: string[]
}

export interface EvidenceBundle {
  format: typeof EVIDENCE_FORMAT
  exchangeId: string
  /** The agency the bundle was made for. */
  party: string
  generatedAt: string
  brokerKeys: { keys: JWK[] }
  checkpoint: { origin: string; treeSize: number; rootHash: string; jws: string; note: string }
  messages: EvidenceMessage[]
  events: EvidenceEvent[]
  /** The party's events of this exchange not yet in the checkpoint (fetch a later bundle for them). */
  pendingEvents: number
}

export type EvidenceCheck =
  | 'bundle-format' | 'checkpoint-signature' | 'checkpoint-note' | 'witness-policy'
  | 'receipt-signature' | 'receipt-binding' | 'jws-digest' | 'event-line' | 'event-inclusion'

export type EvidenceResult =
  | { ok: true; exchangeId: string; party: string; messages: number; jwsVerified: number; events: number; treeSize: number; witnesses: string[]; keysFromBundle: boolean }
  | { ok: false; check: EvidenceCheck; at: string; reason: string }

type Fail = Extract<EvidenceResult, { ok: false }>
const fail = (check: EvidenceCheck, at: string, reason: string): Fail => ({ ok: false, check, at, reason })

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)
const isStr = (v: unknown): v is string => typeof v === 'string'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function shape (b: unknown): Fail | undefined {
  if (!isObj(b)) return fail('bundle-format', 'bundle', 'not a JSON object')
  if (b.format !== EVIDENCE_FORMAT) return fail('bundle-format', 'format', `format must be ${EVIDENCE_FORMAT}`)
  if (!isStr(b.exchangeId) || !UUID.test(b.exchangeId)) return fail('bundle-format', 'exchangeId', 'exchangeId must be a UUID')
  if (!isStr(b.party)) return fail('bundle-format', 'party', 'party must be a string')
  if (!isObj(b.brokerKeys) || !Array.isArray(b.brokerKeys.keys)) return fail('bundle-format', 'brokerKeys', 'brokerKeys must be a JWKS')
  const cp = b.checkpoint
  if (!isObj(cp) || !isStr(cp.jws) || !isStr(cp.note)) return fail('bundle-format', 'checkpoint', 'checkpoint must hold jws and note')
  if (!Array.isArray(b.messages)) return fail('bundle-format', 'messages', 'messages must be an array')
  for (const [i, m] of (b.messages as unknown[]).entries()) {
    if (!isObj(m) || !isStr(m.id) || !isStr(m.digest) || !isStr(m.receipt) || !(m.jws === null || isStr(m.jws))) {
      return fail('bundle-format', `messages[${i}]`, 'a message needs id, digest, receipt and jws (string or null)')
    }
  }
  if (!Array.isArray(b.events)) return fail('bundle-format', 'events', 'events must be an array')
  for (const [i, e] of (b.events as unknown[]).entries()) {
    if (!isObj(e) || !Number.isSafeInteger(e.seq) || (e.seq as number) < 0 || !isStr(e.line) || !Array.isArray(e.auditPath) || !e.auditPath.every(isStr)) {
      return fail('bundle-format', `events[${i}]`, 'an event needs seq, line and auditPath')
    }
  }
  return undefined
}

/**
 * Verifies a bundle offline. `jwks`: the broker keys the verifier trusts (default: the bundle's
 * own, which proves integrity but not origin). Checks, in order: the checkpoint's JWS and signed
 * note (same tree), the witness policy, each receipt's signature and binding to its message, each
 * JWS against its receipt's digest, each event's line and inclusion proof. Names the first failure.
 */
export async function verifyEvidence (bundle: unknown, opts: { jwks?: { keys: JWK[] }; policy?: WitnessPolicy } = {}): Promise<EvidenceResult> {
  const bad = shape(bundle)
  if (bad) return bad
  const b = bundle as EvidenceBundle
  const jwks = opts.jwks ?? b.brokerKeys

  let cp: VerifiedCheckpoint
  try {
    cp = await checkpointVerifier(jwks)(b.checkpoint.jws)
  } catch (err) {
    return fail('checkpoint-signature', 'checkpoint.jws', (err as Error).message)
  }
  const logKeys = logNoteKeysFromJwks(cp.origin, jwks)
  const note = verifyCheckpointNote(b.checkpoint.note, logKeys)
  if (!note.ok) return fail('checkpoint-note', 'checkpoint.note', note.reason)
  if (note.checkpoint.origin !== cp.origin || note.checkpoint.treeSize !== cp.treeSize || note.checkpoint.rootHash !== cp.rootHash) {
    return fail('checkpoint-note', 'checkpoint.note', `the signed note (size ${note.checkpoint.treeSize}) is not the signed checkpoint (size ${cp.treeSize})`)
  }
  let witnesses: string[] = []
  if (opts.policy !== undefined) {
    const check = checkWitnessPolicy(b.checkpoint.note, logKeys, opts.policy, cp)
    if (!check.ok) return fail('witness-policy', 'checkpoint.note', `${check.code}: ${check.reason}`)
    witnesses = check.witnesses.map((w) => w.name)
  }

  const keySet = createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0])
  let jwsVerified = 0
  for (const m of b.messages) {
    const at = `message ${m.id}`
    let receipt: ReceiptBody
    try {
      const { payload, protectedHeader } = await compactVerify(m.receipt, keySet, { algorithms: ['EdDSA'] })
      if (protectedHeader.typ !== RECEIPT_TYP) throw new Error(`typ must be ${RECEIPT_TYP}`)
      receipt = JSON.parse(new TextDecoder().decode(payload)) as ReceiptBody
    } catch (err) {
      return fail('receipt-signature', at, `the receipt does not verify with the broker keys: ${(err as Error).message}`)
    }
    if (receipt.messageId !== m.id || receipt.exchangeId !== b.exchangeId || receipt.digest !== m.digest) {
      return fail('receipt-binding', at, 'the receipt names another message, exchange or digest')
    }
    if (m.jws !== null) {
      if (digestOf(m.jws) !== receipt.digest) return fail('jws-digest', at, 'the SHA-256 of the JWS is not the digest the broker signed in its receipt')
      jwsVerified++
    }
  }

  const root = checkpointRoot(cp)
  let last = -1
  for (const e of b.events) {
    const at = `event seq ${e.seq}`
    if (e.seq <= last) return fail('event-line', at, 'events must be in increasing seq order, each once')
    last = e.seq
    if (!isCanonical(e.line)) return fail('event-line', at, 'the line is not canonical JSON (RFC 8785)')
    const event = JSON.parse(e.line) as Record<string, unknown>
    if (event.seq !== e.seq) return fail('event-line', at, `the line carries seq ${String(event.seq)}`)
    if (event.exchangeId !== b.exchangeId) return fail('event-line', at, 'the event is about another exchange')
    if (!Array.isArray(event.agencies) || !event.agencies.includes(b.party)) return fail('event-line', at, `the event does not name ${b.party}`)
    if (e.seq >= cp.treeSize) return fail('event-inclusion', at, `seq ${e.seq} is beyond the checkpoint's tree size ${cp.treeSize}`)
    const path = e.auditPath.map(parseHashBase64)
    if (path.some((h) => h === undefined) || !verifyInclusion(leafHash(Buffer.from(e.line, 'utf8')), e.seq, cp.treeSize, path as Buffer[], root)) {
      return fail('event-inclusion', at, 'the line\'s leaf hash and audit path do not give the checkpoint root')
    }
  }
  return {
    ok: true, exchangeId: b.exchangeId, party: b.party, messages: b.messages.length, jwsVerified, events: b.events.length,
    treeSize: cp.treeSize, witnesses, keysFromBundle: opts.jwks === undefined,
  }
}
