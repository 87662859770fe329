// C2SP signed notes (c2sp.org/signed-note), tlog checkpoints in that form (c2sp.org/tlog-checkpoint)
// and timestamped Ed25519 witness cosignatures (c2sp.org/tlog-cosignature, cosignature/v1).
//
// Pure functions, no I/O: the gateway, the witness and both offline verifiers use the same code.
// Only Ed25519 is used: signature type 0x01 for the log's own note signature, 0x04 for cosignatures.
import { createHash, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import type { JWK } from 'jose'
import { EMPTY_ROOT, parseHashBase64 } from './merkle/hash.ts'
import { VerificationError } from '../errors.ts'

/** Signature type bytes of c2sp.org/signed-note. */
export const SIG_ED25519 = 0x01
export const SIG_COSIGNATURE_V1 = 0x04

/** Upper bounds a verifier applies (the spec asks to accept at least 16 signatures). */
export const MAX_NOTE_BYTES = 64 * 1024
export const MAX_SIGNATURES = 64

/** A verifier key (c2sp.org/signed-note "vkey"): name, key id, signature type and public key. */
export interface NoteKey {
  name: string
  /** The 4-byte key id as a big-endian uint32. */
  keyId: number
  type: typeof SIG_ED25519 | typeof SIG_COSIGNATURE_V1
  /** The 32-byte raw Ed25519 public key. */
  publicKey: Buffer
}

export interface NoteSignature {
  name: string
  keyId: number
  /** The signature bytes after the key id. */
  signature: Buffer
  /** The whole line, "— name base64\n", as it appeared. */
  line: string
}

export interface Note {
  /** The note text, ending in "\n", without the blank separator line. */
  text: string
  signatures: NoteSignature[]
}

const NAME = /^[^\s+]+$/u
const B64 = /^[A-Za-z0-9+/]+={0,2}$/

/** True if `name` may be a note key name: non-empty, no Unicode spaces, no "+". */
export function isKeyName (name: string): boolean {
  return name.length > 0 && name.length <= 256 && NAME.test(name)
}

/** SHA-256(name || 0x0A || type || publicKey)[:4] as a big-endian uint32. */
export function noteKeyId (name: string, type: number, publicKey: Uint8Array): number {
  const digest = createHash('sha256').update(name, 'utf8').update(Buffer.from([0x0a, type])).update(publicKey).digest()
  return digest.readUInt32BE(0)
}

/** A verifier key from a name and a raw Ed25519 public key. */
export function noteKey (name: string, type: NoteKey['type'], publicKey: Uint8Array): NoteKey {
  if (!isKeyName(name)) throw new VerificationError('bad-key', `key name "${name}" must be non-empty without spaces or "+"`)
  if (publicKey.byteLength !== 32) throw new VerificationError('bad-key', 'an Ed25519 public key is 32 bytes')
  const pk = Buffer.from(publicKey)
  return { name, keyId: noteKeyId(name, type, pk), type, publicKey: pk }
}

/** Encodes a vkey: name+hex(keyId)+base64(type || publicKey). */
export function formatVkey (key: NoteKey): string {
  return `${key.name}+${key.keyId.toString(16).padStart(8, '0')}+${Buffer.concat([Buffer.from([key.type]), key.publicKey]).toString('base64')}`
}

/** Parses and checks a vkey (the key id must match the name and key). Throws VerificationError('bad-key'). */
export function parseVkey (vkey: string): NoteKey {
  // The base64 key material may itself hold "+": split at the first two only.
  const m = /^([^+]*)\+([^+]*)\+(.*)$/s.exec(vkey.trim())
  if (!m) throw new VerificationError('bad-key', 'a vkey is name+hexid+base64key')
  const [, name, hex, b64] = m as unknown as [string, string, string, string]
  if (!/^[0-9a-f]{8}$/.test(hex)) throw new VerificationError('bad-key', 'the vkey key id must be 8 lowercase hex digits')
  if (!B64.test(b64)) throw new VerificationError('bad-key', 'the vkey key material is not base64')
  const raw = Buffer.from(b64, 'base64')
  if (raw.length !== 33) throw new VerificationError('bad-key', 'the vkey key material must be a type byte and a 32-byte Ed25519 key')
  const type = raw[0]
  if (type !== SIG_ED25519 && type !== SIG_COSIGNATURE_V1) throw new VerificationError('bad-key', `signature type 0x${(type ?? 0).toString(16)} is not supported (0x01 or 0x04)`)
  const key = noteKey(name, type, raw.subarray(1))
  if (key.keyId !== Number.parseInt(hex, 16)) throw new VerificationError('bad-key', `the vkey key id ${hex} does not match its name and key`)
  return key
}

/** The raw 32-byte public key of an Ed25519 KeyObject or JWK. */
export function rawEd25519 (key: KeyObject | JWK): Buffer {
  const jwk: JWK = isKeyObject(key) ? ((key.type === 'public' ? key : createPublicKey(key)).export({ format: 'jwk' }) as JWK) : key
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new VerificationError('bad-key', 'not an Ed25519 key')
  const raw = Buffer.from(jwk.x, 'base64url')
  if (raw.length !== 32) throw new VerificationError('bad-key', 'not an Ed25519 key')
  return raw
}

function isKeyObject (key: KeyObject | JWK): key is KeyObject {
  return typeof (key as KeyObject).export === 'function'
}

function publicKeyObject (raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' })
}

/** Splits a signed note into text and signature lines. Throws VerificationError('malformed-note'). */
export function parseNote (note: string): Note {
  const fail = (why: string): never => { throw new VerificationError('malformed-note', `signed note: ${why}`) }
  if (typeof note !== 'string') fail('not a string')
  if (Buffer.byteLength(note, 'utf8') > MAX_NOTE_BYTES) fail(`larger than ${MAX_NOTE_BYTES} bytes`)
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note)) fail('holds a control character other than newline')
  if (!note.endsWith('\n')) fail('does not end in a newline')
  const split = note.lastIndexOf('\n\n')
  if (split < 0) fail('has no blank line before its signatures')
  const text = note.slice(0, split + 1)
  const lines = note.slice(split + 2, -1).split('\n')
  if (lines.length > MAX_SIGNATURES) fail(`more than ${MAX_SIGNATURES} signatures`)
  const signatures = lines.map((line) => {
    const m = /^\u2014 (\S+) (\S+)$/u.exec(line)
    if (!m) return fail(`"${line.slice(0, 40)}" is not a signature line`)
    const [, name, b64] = m as unknown as [string, string, string]
    if (!isKeyName(name)) fail(`bad key name "${name}"`)
    if (!B64.test(b64)) fail(`signature of ${name} is not base64`)
    const raw = Buffer.from(b64, 'base64')
    if (raw.length < 5 || raw.toString('base64') !== b64) fail(`signature of ${name} is not canonical base64 of at least 5 bytes`)
    return { name, keyId: raw.readUInt32BE(0), signature: raw.subarray(4), line: `${line}\n` }
  })
  return { text, signatures }
}

/** Joins a note text and signature lines into a signed note. */
export function formatNote (text: string, signatureLines: readonly string[]): string {
  return `${text}\n${signatureLines.join('')}`
}

function signatureLine (name: string, keyId: number, signature: Uint8Array): string {
  const raw = Buffer.alloc(4 + signature.byteLength)
  raw.writeUInt32BE(keyId >>> 0, 0)
  Buffer.from(signature).copy(raw, 4)
  return `\u2014 ${name} ${raw.toString('base64')}\n`
}

/** An Ed25519 (type 0x01) note signature line by `name` over `text`. */
export function signNoteText (text: string, name: string, privateKey: KeyObject): string {
  const pub = rawEd25519(createPublicKey(privateKey))
  const signature = cryptoSign(null, Buffer.from(text, 'utf8'), privateKey)
  return signatureLine(name, noteKeyId(name, SIG_ED25519, pub), signature)
}

/** Verifies an Ed25519 (type 0x01) note signature. */
export function verifyNoteSignature (text: string, sig: NoteSignature, key: NoteKey): boolean {
  if (key.type !== SIG_ED25519 || sig.name !== key.name || sig.keyId !== key.keyId || sig.signature.length !== 64) return false
  return cryptoVerify(null, Buffer.from(text, 'utf8'), publicKeyObject(key.publicKey), sig.signature)
}

// ---------------------------------------------------------------------------------------------
// Checkpoints as notes

export interface CheckpointNote {
  origin: string
  treeSize: number
  /** Standard base64 of the 32-byte root. */
  rootHash: string
}

/** The note text of a checkpoint: origin, size, root, each on its own line. */
export function checkpointNoteText (cp: CheckpointNote): string {
  if (!isKeyName(cp.origin)) throw new VerificationError('bad-checkpoint-note', 'the origin must be non-empty, without spaces or "+"')
  if (!Number.isSafeInteger(cp.treeSize) || cp.treeSize < 0) throw new VerificationError('bad-checkpoint-note', 'tree size must be a non-negative integer')
  if (parseHashBase64(cp.rootHash) === undefined) throw new VerificationError('bad-checkpoint-note', 'root hash must be the base64 of 32 bytes')
  return `${cp.origin}\n${cp.treeSize}\n${cp.rootHash}\n`
}

/** Reads a checkpoint note text (extension lines are refused: leix never writes any). */
export function parseCheckpointText (text: string): CheckpointNote {
  const fail = (why: string): never => { throw new VerificationError('bad-checkpoint-note', `checkpoint note: ${why}`) }
  const lines = text.split('\n')
  if (lines.length !== 4 || lines[3] !== '') fail('must be exactly origin, tree size and root hash lines')
  const [origin, size, root] = lines as [string, string, string]
  if (!isKeyName(origin)) fail('bad origin line')
  if (!/^(0|[1-9][0-9]{0,15})$/.test(size) || !Number.isSafeInteger(Number(size))) fail('tree size must be a decimal without leading zeroes')
  const hash = parseHashBase64(root)
  if (hash === undefined) fail('root hash must be the base64 of 32 bytes')
  if (Number(size) === 0 && !(hash as Buffer).equals(EMPTY_ROOT)) fail('an empty tree has the empty root')
  return { origin, treeSize: Number(size), rootHash: root }
}

/** The broker's key for its checkpoint notes: key name = origin, Ed25519 type 0x01. */
export function logNoteKey (origin: string, publicKey: KeyObject | JWK): NoteKey {
  return noteKey(origin, SIG_ED25519, rawEd25519(publicKey))
}

/** The checkpoint as a signed note by the broker. */
export function signCheckpointNote (cp: CheckpointNote, privateKey: KeyObject): string {
  const text = checkpointNoteText(cp)
  return formatNote(text, [signNoteText(text, cp.origin, privateKey)])
}

/** The broker's candidate note keys from its JWKS (every Ed25519 key, under the origin's name). */
export function logNoteKeysFromJwks (origin: string, jwks: { keys: JWK[] }): NoteKey[] {
  return jwks.keys.filter((k) => k.kty === 'OKP' && k.crv === 'Ed25519' && typeof k.x === 'string').map((k) => logNoteKey(origin, k))
}

export type CheckpointNoteFailure = 'malformed' | 'no-log-signature' | 'bad-log-signature'

/**
 * Parses a checkpoint note and checks the log's signature per signed-note: unknown signatures are
 * ignored, a known key's signature must verify, and at least one known key must have signed.
 */
export function verifyCheckpointNote (note: string, logKeys: readonly NoteKey[]):
  { ok: true, checkpoint: CheckpointNote, note: Note } | { ok: false, failure: CheckpointNoteFailure, reason: string } {
  let parsed: Note
  let cp: CheckpointNote
  try {
    parsed = parseNote(note)
    cp = parseCheckpointText(parsed.text)
  } catch (err) {
    return { ok: false, failure: 'malformed', reason: (err as Error).message }
  }
  let verified = 0
  for (const sig of parsed.signatures) {
    const key = logKeys.find((k) => k.type === SIG_ED25519 && k.name === sig.name && k.keyId === sig.keyId)
    if (key === undefined) continue
    if (!verifyNoteSignature(parsed.text, sig, key)) return { ok: false, failure: 'bad-log-signature', reason: `the log signature by ${key.name} does not verify` }
    verified++
  }
  if (verified === 0) return { ok: false, failure: 'no-log-signature', reason: `no signature by a trusted log key for origin ${cp.origin}` }
  return { ok: true, checkpoint: cp, note: parsed }
}

// ---------------------------------------------------------------------------------------------
// Cosignatures (c2sp.org/tlog-cosignature, Ed25519 cosignature/v1)

/** The message a cosignature v1 signs: header, time line, then the checkpoint note text. */
export function cosignedMessage (checkpointText: string, timestamp: number): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${timestamp}\n${checkpointText}`, 'utf8')
}

/** A witness's cosignature line over a checkpoint note text at `timestamp` (POSIX seconds). */
export function cosign (checkpointText: string, name: string, privateKey: KeyObject, timestamp: number): string {
  if (!Number.isSafeInteger(timestamp) || timestamp <= 0) throw new VerificationError('bad-checkpoint-note', 'a cosignature needs a positive POSIX timestamp')
  const pub = rawEd25519(createPublicKey(privateKey))
  const signature = cryptoSign(null, cosignedMessage(checkpointText, timestamp), privateKey)
  const body = Buffer.alloc(8 + 64)
  body.writeBigUInt64BE(BigInt(timestamp), 0)
  signature.copy(body, 8)
  return signatureLine(name, noteKeyId(name, SIG_COSIGNATURE_V1, pub), body)
}

/** The timestamp of a cosignature if it verifies with `key` over `checkpointText`, else undefined. */
export function verifyCosignature (checkpointText: string, sig: NoteSignature, key: NoteKey): number | undefined {
  if (key.type !== SIG_COSIGNATURE_V1 || sig.name !== key.name || sig.keyId !== key.keyId || sig.signature.length !== 72) return undefined
  const ts = sig.signature.readBigUInt64BE(0)
  if (ts === 0n || ts > BigInt(Number.MAX_SAFE_INTEGER)) return undefined
  const timestamp = Number(ts)
  const ok = cryptoVerify(null, cosignedMessage(checkpointText, timestamp), publicKeyObject(key.publicKey), sig.signature.subarray(8))
  return ok ? timestamp : undefined
}
