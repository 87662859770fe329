// Sealing one event (the sequencer's side of the export format, export/format.ts): the event gets
// its seq and the leaf hash of the event before it, and becomes its canonical line and leaf.
import { VerificationError } from '../errors.ts'
import { canonicalString } from './canonical.ts'
import { hashToBase64, leafHash } from './merkle/hash.ts'
import { isCount } from './merkle/sizes.ts'

type JsonObject = Record<string, unknown>

export interface SealedEvent {
  seq: number
  /** The canonical line as stored and exported (no trailing newline). */
  line: string
  /** leafHash(UTF-8 of line): the Merkle leaf, and the next event's prev. */
  leafHash: Buffer
}

/** Gives `event` its seq and prev and returns its canonical line and leaf hash. */
export function sealEvent (event: JsonObject, seq: number, prevLeafHash: Uint8Array | null): SealedEvent {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) throw new VerificationError('bad-event', 'an audit event must be a JSON object')
  for (const reserved of ['seq', 'prev', 'leix']) {
    // seq/prev are assigned here; "leix" marks export control lines and must never start an event.
    if (Object.prototype.hasOwnProperty.call(event, reserved)) throw new VerificationError('bad-event', `an audit event must not carry "${reserved}" before sealing`)
  }
  if (!isCount(seq)) throw new VerificationError('bad-event', `seq ${String(seq)} is not a non-negative integer`)
  if ((seq === 0) !== (prevLeafHash === null)) throw new VerificationError('bad-event', 'prev is null exactly for seq 0')
  if (prevLeafHash !== null && prevLeafHash.byteLength !== 32) throw new VerificationError('bad-event', 'prev leaf hash must be 32 bytes')
  let line: string
  try {
    line = canonicalString({ ...event, seq, prev: prevLeafHash === null ? null : hashToBase64(prevLeafHash) })
  } catch (err) {
    throw new VerificationError('bad-event', `audit event is not JSON-serialisable: ${(err as Error).message}`, { cause: err })
  }
  return { seq, line, leafHash: leafHash(Buffer.from(line, 'utf8')) }
}

/** Seals consecutive events, continuing after `after` (the last sealed event) or from seq 0. */
export function sealEvents (events: Iterable<JsonObject>, after?: { seq: number, leafHash: Uint8Array }): SealedEvent[] {
  const out: SealedEvent[] = []
  let seq = after === undefined ? 0 : after.seq + 1
  let prev: Uint8Array | null = after === undefined ? null : after.leafHash
  for (const event of events) {
    const sealed = sealEvent(event, seq, prev)
    out.push(sealed)
    prev = sealed.leafHash
    seq++
  }
  return out
}
