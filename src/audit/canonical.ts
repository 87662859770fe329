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
 * The tokens of an RFC 8785 text in the restricted form the audit events take (the fast path of
 * `isCanonicalParsed`): punctuation, strings without any backslash, control character or
 * UTF-16 surrogate (no flag `u`: a character beyond the BMP, or a lone surrogate, just declines),
 * integers of at most 15 digits without a sign on zero, and the three literals. No alternative
 * matches a space, tab or line break outside a string, and each starts with a distinct character,
 * so a text this matches whole, and that JSON.parse accepts, is split into exactly the tokens
 * JSON's own grammar reads there (the look-ahead stops a 16-digit number passing as two).
 */
// eslint-disable-next-line no-control-regex -- control characters are exactly what a JSON string may not hold raw
const RESTRICTED_CANONICAL_TOKENS = /^(?:[{}[\]:,]|"[^"\\\u0000-\u001f\ud800-\udfff]*"|-?[1-9][0-9]{0,14}(?![0-9])|0|true|false|null)*$/

/**
 * True when `text` is the RFC 8785 form of `value`, which must be `JSON.parse(text)`: the check
 * `isCanonical` makes, without parsing again and, for the lines leix writes, without serialising.
 *
 * Why the fast path is complete (it answers true only for canonical text): when the text is made
 * of the restricted tokens above (no whitespace between tokens; strings with no escape at all,
 * so each is the exact unescaped form RFC 8785 and JSON.stringify give its value, and with no
 * surrogate, so no lone one that RFC 8785 would refuse; integers below 2^53 written as
 * ECMAScript writes them), then serialising `value` member by member in its own key order gives
 * back `text` exactly, unless JSON.parse lost or moved something. It loses only duplicate keys
 * (a later one overwrites the earlier, which keeps its place) and moves only integer-like keys
 * (JavaScript puts them first, numerically). Integer-like keys start with a digit: any key
 * starting with one declines the fast path. Duplicate keys: every member of the text puts `":`
 * after its key, and JSON.parse keeps one member per distinct key, so counting `":` in the text
 * gives at least the text's members (more when a string value starts with a colon: then the fast
 * path just declines), which equals the members of `value` only when the text has no duplicate
 * key. What is left is RFC 8785's one remaining rule, keys strictly increasing by UTF-16 code
 * units, checked on `value`. Anything else (escapes such as \u00e9 or \/, fractions, exponents,
 * -0, long integers, whitespace, integer-like keys) takes the previous path: JSON.stringify
 * compared with the text plus the key order, and failing that a full RFC 8785
 * canonicalisation: exact too.
 */
export function isCanonicalParsed (text: string, value: unknown): boolean {
  if (restrictedCanonical(text, value)) return true
  if (!text.includes('\\u') && JSON.stringify(value) === text && keysInOrder(value)) return true
  return isCanonical(text)
}

function restrictedCanonical (text: string, value: unknown): boolean {
  let tokens: boolean
  try {
    tokens = RESTRICTED_CANONICAL_TOKENS.test(text)
  } catch {
    return false // a line too long for the regular expression engine's stack: the other path decides
  }
  if (!tokens) return false
  const members = orderedMembers(value)
  if (members < 0) return false
  let inText = 0
  for (let at = text.indexOf('":'); at !== -1; at = text.indexOf('":', at + 2)) inText++
  return inText === members
}

/** The number of object members in `value`, or -1 when keys are not strictly increasing or one starts with a digit. */
function orderedMembers (value: unknown): number {
  if (value === null || typeof value !== 'object') return 0
  let count = 0
  if (Array.isArray(value)) {
    for (const item of value) {
      const n = orderedMembers(item)
      if (n < 0) return -1
      count += n
    }
    return count
  }
  let previous: string | undefined
  for (const key of Object.keys(value)) {
    const first = key.charCodeAt(0)
    if (first >= 0x30 && first <= 0x39) return -1
    if (previous !== undefined && !(previous < key)) return -1
    const n = orderedMembers((value as Record<string, unknown>)[key])
    if (n < 0) return -1
    count += n + 1
    previous = key
  }
  return count
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
