// RFC 8785 (JSON Canonicalization Scheme): the one byte form of an audit event, so that a leaf
// hash computed by the server and by an offline verifier can only agree on identical content.
import canonicalize from 'canonicalize'
import { VerificationError } from '../errors.ts'

/** RFC 8785 text of `value`. Throws VerificationError for values JSON cannot carry (NaN, lone surrogates, undefined, cycles). */
export function canonicalString (value: unknown): string {
  let text: string | undefined
  try {
    text = canonicalize(value)
  } catch (err) {
    throw new VerificationError('not-serialisable', `value cannot be canonicalised: ${(err as Error).message}`, { cause: err })
  }
  // canonicalize() answers undefined for top-level undefined/functions/symbols: not JSON at all.
  if (typeof text !== 'string') throw new VerificationError('not-serialisable', 'value has no JSON form')
  return text
}

/** UTF-8 bytes of the RFC 8785 form of `value`. */
export function canonicalBytes (value: unknown): Uint8Array {
  return Buffer.from(canonicalString(value), 'utf8')
}

/** True when `line` is exactly the RFC 8785 form of the JSON it holds (no spaces, sorted keys, ES number form). */
export function isCanonical (line: string): boolean {
  try {
    // Duplicate keys collapse in JSON.parse, so a line with them can never compare equal: rejected.
    return canonicalize(JSON.parse(line)) === line
  } catch {
    return false
  }
}
