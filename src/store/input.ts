// Input hygiene shared by the routes, intake and cursors: no control characters, bounded instants. What passes here
// can reach PostgreSQL (text columns refuse NUL; timestamptz refuses years PostgreSQL cannot hold).

/** C0 controls and DEL; `lines` allows tab, line feed and carriage return (free text). */
export function hasControlCharacter (text: string, o: { lines?: boolean } = {}): boolean {
  // eslint-disable-next-line no-control-regex -- control characters are what this refuses
  return o.lines ? /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text) : /[\u0000-\u001f\u007f]/.test(text)
}

/** A percent-encoded C0 control or DEL in a raw URL. */
export const ENCODED_CONTROL = /%(?:[01][0-9A-Fa-f]|7[Ff])/

/** Earliest and latest instants leix accepts from a client (filters, cursors): 1970 .. 9999. */
export const MIN_INSTANT_MS = Date.UTC(1970, 0, 1)
export const MAX_INSTANT_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999)

const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/

/**
 * Whether `text` is an RFC 3339 date-time with a four-digit year, a valid calendar date, and an
 * instant within 1970..9999 (the `date-time` format of every schema; JavaScript's Date accepts
 * years 0000 and +275760, PostgreSQL does not).
 */
export function isBoundedInstant (text: string): boolean {
  const m = ISO_INSTANT.exec(text)
  if (!m) return false
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[]
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > 31 || h! > 23 || mi! > 59 || s! > 60) return false
  const ms = Date.parse(text)
  if (Number.isNaN(ms) || ms < MIN_INSTANT_MS || ms > MAX_INSTANT_MS) return false
  // Date.parse rolls 2026-02-31 over to March: refuse dates that do not exist.
  return new Date(Date.UTC(y!, mo! - 1, d!)).getUTCDate() === d
}

/** The first string (value or key) in a JSON value that holds a control character, as a JSON pointer. */
export function controlCharacterPath (value: unknown, o: { lines?: boolean } = {}, path = ''): string | undefined {
  if (typeof value === 'string') return hasControlCharacter(value, o) ? path || '/' : undefined
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = controlCharacterPath(value[i], o, `${path}/${i}`)
      if (found !== undefined) return found
    }
    return undefined
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const here = `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`
      if (hasControlCharacter(k)) return here
      const found = controlCharacterPath(v, o, here)
      if (found !== undefined) return found
    }
  }
  return undefined
}
