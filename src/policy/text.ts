/** True when `s` is absent or only whitespace. */
export function isBlank (s: string | undefined): boolean {
  return s === undefined || s.trim() === ''
}

/** Escapes one JSON pointer reference token (RFC 6901). */
export function pointerToken (token: string | number): string {
  return String(token).replace(/~/g, '~0').replace(/\//g, '~1')
}
