// Witnessing (c2sp.org/tlog-witness semantics) and witness policies ("k of these n witnesses").
//
// A witness keeps, per log, the latest checkpoint it cosigned. It cosigns a new checkpoint only
// when the log proves that the new tree extends that one (an RFC 9162 consistency proof), so a log
// that rewrites history and re-signs it cannot collect the witness's cosignature again: the old
// root the witness kept contradicts the new tree. Pure functions; the loop is in cli/witness.ts.
import type { KeyObject } from 'node:crypto'
import { hashToBase64, parseHashBase64 } from './merkle/hash.ts'
import { verifyConsistency } from './merkle/verify.ts'
import {
  SIG_COSIGNATURE_V1, cosign, parseNote, parseVkey, verifyCheckpointNote, verifyCosignature,
  type CheckpointNote, type NoteKey,
} from './note.ts'

/** At most this many consistency proof lines (tlog-witness). */
export const MAX_PROOF_LINES = 63

/** What a witness remembers about one log: the latest checkpoint it cosigned. */
export interface WitnessState {
  origin: string
  treeSize: number
  rootHash: string
  /** The signed note it cosigned (evidence if the log later contradicts it). */
  note: string
}

/** The body of a tlog-witness add-checkpoint request. */
export interface AddCheckpointRequest {
  oldSize: number
  proof: Buffer[]
  /** The signed checkpoint note. */
  note: string
}

export function formatAddCheckpoint (req: AddCheckpointRequest): string {
  return `old ${req.oldSize}\n${req.proof.map((h) => `${hashToBase64(h)}\n`).join('')}\n${req.note}`
}

export class AddCheckpointSyntaxError extends Error {
  override readonly name = 'AddCheckpointSyntaxError'
}

/** Parses an add-checkpoint body; throws AddCheckpointSyntaxError (a 400) on bad syntax. */
export function parseAddCheckpoint (body: string): AddCheckpointRequest {
  const end = body.indexOf('\n\n')
  if (end < 0) throw new AddCheckpointSyntaxError('no blank line between the proof and the checkpoint')
  const lines = body.slice(0, end).split('\n')
  const m = /^old (0|[1-9][0-9]{0,15})$/.exec(lines[0] ?? '')
  if (!m) throw new AddCheckpointSyntaxError('the first line must be "old <size>"')
  const proofLines = lines.slice(1)
  if (proofLines.length > MAX_PROOF_LINES) throw new AddCheckpointSyntaxError(`more than ${MAX_PROOF_LINES} proof lines`)
  const proof = proofLines.map((line) => {
    const hash = parseHashBase64(line)
    if (hash === undefined) throw new AddCheckpointSyntaxError('a proof line is not the base64 of a 32-byte hash')
    return hash
  })
  return { oldSize: Number(m[1]), proof, note: body.slice(end + 2) }
}

export interface WitnessIdentity {
  name: string
  privateKey: KeyObject
}

export type AddCheckpointResult =
  | { status: 200, cosignature: string, state: WitnessState, checkpoint: CheckpointNote }
  /** 409: the old size is not the witness's; `treeSize` is the size it cosigned last. */
  | { status: 409, reason: string, treeSize: number }
  /**
   * 400 bad request, 403 no valid log signature, 404 unknown origin, 422 inconsistent. `alarm` is
   * set when the log signed a checkpoint that contradicts one the witness cosigned: proof of a fork.
   */
  | { status: 400 | 403 | 404 | 422, reason: string, alarm?: boolean, checkpoint?: CheckpointNote }

/**
 * tlog-witness add-checkpoint: verifies the log signature, the old size against `state`, and the
 * consistency proof, then cosigns at `now`. The caller must persist `state` before using the
 * cosignature, and must run this under one lock per log (check and update are one step).
 */
export function addCheckpoint (
  state: WitnessState | undefined,
  body: string,
  logs: ReadonlyMap<string, readonly NoteKey[]>,
  witness: WitnessIdentity,
  now: Date
): AddCheckpointResult {
  let req: AddCheckpointRequest
  try {
    req = parseAddCheckpoint(body)
  } catch (err) {
    return { status: 400, reason: (err as Error).message }
  }
  let origin: string
  try {
    origin = parseNote(req.note).text.split('\n')[0] ?? ''
  } catch (err) {
    return { status: 400, reason: (err as Error).message }
  }
  const keys = logs.get(origin)
  if (keys === undefined) return { status: 404, reason: `unknown log origin "${origin}"` }
  const verified = verifyCheckpointNote(req.note, keys)
  if (!verified.ok) return { status: verified.failure === 'malformed' ? 400 : 403, reason: verified.reason }
  const cp = verified.checkpoint
  if (req.oldSize > cp.treeSize) return { status: 400, reason: `old size ${req.oldSize} exceeds the checkpoint size ${cp.treeSize}` }
  const known = state !== undefined && state.origin === origin ? state : undefined
  const knownSize = known?.treeSize ?? 0
  if (req.oldSize !== knownSize) return { status: 409, reason: `the witness last cosigned size ${knownSize}, not ${req.oldSize}`, treeSize: knownSize }
  const newRoot = parseHashBase64(cp.rootHash) as Buffer
  if (cp.treeSize === 0 && req.proof.length > 0) return { status: 422, reason: 'a checkpoint of size 0 needs no proof', checkpoint: cp }
  if (known === undefined || req.oldSize === 0) {
    if (req.proof.length > 0) return { status: 422, reason: 'from size 0 the consistency proof must be empty', checkpoint: cp }
  } else {
    const oldRoot = parseHashBase64(known.rootHash) as Buffer
    if (req.oldSize === cp.treeSize) {
      if (!oldRoot.equals(newRoot)) {
        return { status: 422, alarm: true, checkpoint: cp, reason: `the log signed two roots for size ${cp.treeSize}: ${known.rootHash} (cosigned) and ${cp.rootHash}` }
      }
    } else if (!verifyConsistency(req.oldSize, cp.treeSize, oldRoot, newRoot, req.proof)) {
      return {
        status: 422, alarm: true, checkpoint: cp,
        reason: `the tree of size ${cp.treeSize} (root ${cp.rootHash}) is not consistent with the cosigned tree of size ${req.oldSize} (root ${known.rootHash})`,
      }
    }
  }
  const cosignature = cosign(verified.note.text, witness.name, witness.privateKey, Math.floor(now.getTime() / 1000))
  return { status: 200, cosignature, checkpoint: cp, state: { origin, treeSize: cp.treeSize, rootHash: cp.rootHash, note: req.note } }
}

// ---------------------------------------------------------------------------------------------
// Policies

/** "k of these n witnesses": k = threshold, keys = the n cosignature (type 0x04) keys. */
export interface WitnessPolicy {
  keys: NoteKey[]
  threshold: number
}

export class WitnessPolicyError extends Error {
  override readonly name = 'WitnessPolicyError'
}

/** Checks a policy is usable: cosignature keys, distinct, 0 <= threshold <= n. */
export function witnessPolicy (keys: readonly NoteKey[], threshold: number): WitnessPolicy {
  for (const k of keys) {
    if (k.type !== SIG_COSIGNATURE_V1) throw new WitnessPolicyError(`witness key ${k.name} is not a cosignature (0x04) key`)
  }
  const ids = new Set(keys.map((k) => `${k.name}+${k.keyId}`))
  if (ids.size !== keys.length) throw new WitnessPolicyError('a witness key is given twice')
  if (!Number.isSafeInteger(threshold) || threshold < 0 || threshold > keys.length) {
    throw new WitnessPolicyError(`the witness threshold must be an integer from 0 to ${keys.length} (the number of witness keys)`)
  }
  return { keys: [...keys], threshold }
}

export type WitnessCheckCode = 'checkpoint-note' | 'checkpoint-mismatch' | 'bad-cosignature' | 'witness-quorum'

export type WitnessCheck =
  | { ok: true, checkpoint: CheckpointNote, witnesses: { name: string, timestamp: number }[] }
  | { ok: false, code: WitnessCheckCode, reason: string }

/**
 * Verifies a cosigned checkpoint note against the log's keys and a policy: the log signature, that
 * the note is `expected` (when given), and at least `threshold` valid cosignatures by distinct
 * policy keys. Unknown signatures are ignored; a policy key's signature that fails is an error.
 */
export function checkWitnessPolicy (
  note: string,
  logKeys: readonly NoteKey[],
  policy: WitnessPolicy,
  expected?: CheckpointNote
): WitnessCheck {
  const verified = verifyCheckpointNote(note, logKeys)
  if (!verified.ok) return { ok: false, code: 'checkpoint-note', reason: verified.reason }
  const cp = verified.checkpoint
  if (expected !== undefined && (cp.origin !== expected.origin || cp.treeSize !== expected.treeSize || cp.rootHash !== expected.rootHash)) {
    return {
      ok: false, code: 'checkpoint-mismatch',
      reason: `the cosigned note is for ${cp.origin} size ${cp.treeSize} root ${cp.rootHash}, not size ${expected.treeSize} root ${expected.rootHash}`,
    }
  }
  const witnesses: { name: string, timestamp: number }[] = []
  const seen = new Set<string>()
  for (const sig of verified.note.signatures) {
    const key = policy.keys.find((k) => k.name === sig.name && k.keyId === sig.keyId)
    if (key === undefined) continue
    const timestamp = verifyCosignature(verified.note.text, sig, key)
    if (timestamp === undefined) return { ok: false, code: 'bad-cosignature', reason: `the cosignature by witness ${key.name} does not verify over this checkpoint` }
    const id = `${key.name}+${key.keyId}`
    if (seen.has(id)) continue
    seen.add(id)
    witnesses.push({ name: key.name, timestamp })
  }
  if (witnesses.length < policy.threshold) {
    return {
      ok: false, code: 'witness-quorum',
      reason: `${witnesses.length} of the required ${policy.threshold} witness cosignature(s) (of ${policy.keys.length} trusted witnesses)` +
        (witnesses.length ? `: ${witnesses.map((w) => w.name).join(', ')}` : ''),
    }
  }
  return { ok: true, checkpoint: cp, witnesses }
}

/**
 * The configured witnesses (LEIX_WITNESSES): cosignature vkeys separated by commas or whitespace.
 * Throws on a malformed vkey, a non-cosignature key or a witness named twice.
 */
export function parseWitnessKeys (spec: string): NoteKey[] {
  const keys = spec.split(/[\s,]+/).filter((s) => s.length > 0).map((vkey) => {
    const key = parseVkey(vkey)
    if (key.type !== SIG_COSIGNATURE_V1) throw new WitnessPolicyError(`witness ${key.name}: the vkey must be of type 0x04 (a cosignature key, see leix witness keygen)`)
    return key
  })
  const names = new Set(keys.map((k) => k.name))
  if (names.size !== keys.length) throw new WitnessPolicyError('a witness name is given twice')
  return keys
}

/** A witnessed checkpoint as GET /v1/audit/checkpoints/witnessed answers (the fields used here). */
export interface WitnessedCheckpoint {
  note: string
  /** A consistency proof from a smaller tree size (base64 hashes). */
  consistency?: { from: number, path: string[] }
}

/**
 * Holds a verified log state (`final`: e.g. an export's last checkpoint) to a witness policy: the
 * cosigned note must satisfy the policy and be `final` itself, or a larger tree proven consistent
 * with it. With threshold 0 and no note, there is nothing to check.
 */
export function verifyWitnessed (
  final: CheckpointNote,
  witnessed: WitnessedCheckpoint | undefined,
  logKeys: readonly NoteKey[],
  policy: WitnessPolicy
): WitnessCheck | { ok: true, skipped: true } {
  if (witnessed === undefined) {
    if (policy.threshold === 0) return { ok: true, skipped: true }
    return { ok: false, code: 'witness-quorum', reason: `the policy needs ${policy.threshold} witness cosignature(s) and no witnessed checkpoint was given` }
  }
  const check = checkWitnessPolicy(witnessed.note, logKeys, policy)
  if (!check.ok) return check
  const cp = check.checkpoint
  if (cp.origin !== final.origin) return { ok: false, code: 'checkpoint-mismatch', reason: `the witnessed checkpoint is for log "${cp.origin}", not "${final.origin}"` }
  if (cp.treeSize < final.treeSize) {
    return { ok: false, code: 'checkpoint-mismatch', reason: `the witnessed tree size ${cp.treeSize} is smaller than the final checkpoint's ${final.treeSize}: events after it are not witnessed` }
  }
  if (cp.treeSize === final.treeSize) {
    if (cp.rootHash !== final.rootHash) return { ok: false, code: 'checkpoint-mismatch', reason: `the witnessed root for size ${cp.treeSize} is ${cp.rootHash}, the final checkpoint's ${final.rootHash}: the log forked` }
    return check
  }
  const proof = witnessed.consistency
  if (proof === undefined || proof.from !== final.treeSize) {
    return { ok: false, code: 'checkpoint-mismatch', reason: `the witnessed checkpoint (size ${cp.treeSize}) needs a consistency proof from size ${final.treeSize}` }
  }
  const hashes = proof.path.map(parseHashBase64)
  if (hashes.some((h) => h === undefined) || !verifyConsistency(final.treeSize, cp.treeSize, parseHashBase64(final.rootHash) as Buffer, parseHashBase64(cp.rootHash) as Buffer, hashes as Buffer[])) {
    return { ok: false, code: 'checkpoint-mismatch', reason: `the final checkpoint (size ${final.treeSize}) is not consistent with the witnessed one (size ${cp.treeSize})` }
  }
  return check
}
