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

/**
 * True when `text` is the RFC 8785 form of `value`, which must be `JSON.parse(text)`: the check
 * `isCanonical` makes, without parsing again and, for lines that are canonical (every line leix
 * writes), without canonicalising. RFC 8785 serialises strings and numbers exactly as
 * JSON.stringify does and sorts object keys by UTF-16 code units; so when JSON.stringify gives
 * back the text and every object's keys are already in that order, canonicalising gives the text
 * too. Lone surrogates (which RFC 8785 refuses) can only come from "\u" escapes, since
 * JSON.stringify escapes raw ones: text with "\u" takes the full check, as does any text the fast
 * check does not confirm (e.g. integer-like keys, which JavaScript orders numerically). Exact
 * either way.
 */
export function isCanonicalParsed (text: string, value: unknown): boolean {
  if (!text.includes('\\u') && JSON.stringify(value) === text && keysInOrder(value)) return true
  return isCanonical(text)
}

/** Every object's own keys are strictly increasing by UTF-16 code units (RFC 8785 §3.2.3). */
function keysInOrder (value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true
  if (Array.isArray(value)) {
    for (const item of value) if (!keysInOrder(item)) return false
    return true
  }
  let previous: string | undefined
  for (const key of Object.keys(value)) {
    if (previous !== undefined && !(previous < key)) return false
    if (!keysInOrder((value as Record<string, unknown>)[key])) return false
    previous = key
  }
  return true
}
