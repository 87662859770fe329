// The export statement: a compact JWS by the broker key, the last line of every export, saying
// which range was asked for and exactly what the export holds. It is what lets an auditor detect
// a cut export with the file alone: an end line anyone could append is no longer enough.
import type { KeyObject } from 'node:crypto'
import { CompactSign, compactVerify, createLocalJWKSet, decodeProtectedHeader, errors, type CryptoKey, type JWK } from 'jose'
import { canonicalBytes, isCanonical } from './canonical.ts'
import { parseHashBase64 } from './merkle/hash.ts'
import { VerificationError } from '../errors.ts'

export const STATEMENT_TYP = 'leix-export+json'
export const STATEMENT_ALG = 'EdDSA'

export interface ExportStatement {
  /** The log's name, as in its checkpoints. */
  origin: string
  /** The requested lower bound as asked (a seq or an ISO 8601 time), or null for "from the start". */
  from: string | null
  /** The requested upper bound as asked (a seq, exclusive, or a time), or null for "to the newest checkpoint". */
  to: string | null
  /** Seq of the first event line. */
  firstSeq: number
  /** Seq of the last event line. */
  lastSeq: number
  /** Number of event lines: lastSeq - firstSeq + 1. */
  events: number
  /** Size of the final checkpoint: always lastSeq + 1 (a checkpoint at the last event). */
  treeSize: number
  /** Its root (standard base64), binding the statement to that checkpoint. */
  rootHash: string
  /** When the export was made, ISO 8601 UTC. */
  timestamp: string
}

const KEYS = ['events', 'firstSeq', 'from', 'lastSeq', 'origin', 'rootHash', 'timestamp', 'to', 'treeSize']
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/
const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
const bound = (v: unknown): boolean => v === null || (typeof v === 'string' && v.length > 0 && v.length <= 64)

/** Throws VerificationError('bad-payload') unless `value` is exactly a consistent ExportStatement. */
export function assertStatement (value: unknown): asserts value is ExportStatement {
  const fail = (why: string): never => { throw new VerificationError('bad-payload', `export statement: ${why}`) }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('not an object')
  const s = value as Record<string, unknown>
  if (Object.keys(s).sort().join() !== KEYS.join()) fail(`members must be exactly ${KEYS.join(', ')}`)
  if (typeof s.origin !== 'string' || s.origin.length === 0 || s.origin.length > 512) fail('origin must be a non-empty string')
  if (!bound(s.from) || !bound(s.to)) fail('from and to must be strings (a seq or a time) or null')
  if (!isCount(s.firstSeq) || !isCount(s.lastSeq) || !isCount(s.events) || !isCount(s.treeSize)) fail('firstSeq, lastSeq, events, treeSize must be non-negative integers')
  const { firstSeq, lastSeq, events, treeSize } = s as unknown as ExportStatement
  if (lastSeq < firstSeq || events !== lastSeq - firstSeq + 1) fail('events must equal lastSeq - firstSeq + 1')
  if (treeSize !== lastSeq + 1) fail('treeSize must be lastSeq + 1: the final checkpoint is at the last event')
  if (parseHashBase64(s.rootHash) === undefined) fail('rootHash must be the base64 of 32 bytes')
  if (typeof s.timestamp !== 'string' || !ISO_UTC.test(s.timestamp) || Number.isNaN(Date.parse(s.timestamp))) fail('timestamp must be ISO 8601 UTC')
}

export async function signStatement (body: ExportStatement, key: { privateKey: CryptoKey | KeyObject, kid: string }): Promise<string> {
  assertStatement(body)
  return await new CompactSign(canonicalBytes(body))
    .setProtectedHeader({ alg: STATEMENT_ALG, kid: key.kid, typ: STATEMENT_TYP })
    .sign(key.privateKey)
}

/** A verifier bound to one key set: checks header (alg, typ, kid only), signature and payload. */
export function statementVerifier (jwks: { keys: JWK[] }): (jws: string) => Promise<ExportStatement & { kid: string }> {
  let keySet: ReturnType<typeof createLocalJWKSet>
  try {
    keySet = createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0])
  } catch (err) {
    throw new VerificationError('bad-jwks', 'key set is not a JWKS', { cause: err })
  }
  return async (jws: string) => {
    if (typeof jws !== 'string' || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(jws)) throw new VerificationError('malformed', 'statement is not a compact JWS')
    let header: Record<string, unknown>
    try {
      header = decodeProtectedHeader(jws) as Record<string, unknown>
    } catch (err) {
      throw new VerificationError('malformed', 'statement header is not decodable', { cause: err })
    }
    // A checkpoint (or any other broker JWS) cannot stand in for a statement: its own typ.
    if (header.alg !== STATEMENT_ALG || header.typ !== STATEMENT_TYP || typeof header.kid !== 'string' ||
        Object.keys(header).some((k) => !['alg', 'kid', 'typ'].includes(k))) {
      throw new VerificationError('bad-header', `statement header must be exactly {alg: ${STATEMENT_ALG}, kid, typ: ${STATEMENT_TYP}}`)
    }
    let payload: Uint8Array
    try {
      ({ payload } = await compactVerify(jws, keySet, { algorithms: [STATEMENT_ALG] }))
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
        throw new VerificationError('unknown-key', `no single key "${header.kid}" in the key set`, { cause: err })
      }
      throw new VerificationError('bad-signature', `statement signature does not verify with key "${header.kid}"`, { cause: err })
    }
    let text: string
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(payload)
    } catch (err) {
      throw new VerificationError('bad-payload', 'statement payload is not UTF-8', { cause: err })
    }
    if (!isCanonical(text)) throw new VerificationError('bad-payload', 'statement payload is not canonical JSON (RFC 8785)')
    const value: unknown = JSON.parse(text)
    assertStatement(value)
    return { ...value, kid: header.kid }
  }
}
