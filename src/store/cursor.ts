import { DomainError } from '../errors.ts'
import { isBoundedInstant } from './input.ts'

// Opaque cursors, in the two shapes leix pages by. A cursor leix did not give out is refused here,
// once, as a bad request: never a database error, never a catch-and-rethrow in a route.

/** Keyset cursor over (timestamp, uuid): pages stay stable while rows are added. */
export function encodeCursor (at: Date, id: string): string {
  return Buffer.from(`${at.toISOString()}|${id}`).toString('base64url')
}

/** The (timestamp, uuid) after which the next page starts; throws bad-request for a cursor leix did not issue. */
export function decodeCursor (cursor: string): [at: string, id: string] {
  const [at, id, extra] = Buffer.from(cursor, 'base64url').toString('utf8').split('|')
  if (!at || !id || extra !== undefined || !isBoundedInstant(at) || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) {
    throw new DomainError('bad-request', 'cursor is not one this API gave out')
  }
  return [at, id]
}

/** Sequence cursor (the audit log's seq): the last seq of the page. */
export function encodeSeqCursor (seq: number): string {
  return Buffer.from(`s${seq}`).toString('base64url')
}

/** The seq after which the next page starts; throws bad-request for a cursor leix did not issue. */
export function decodeSeqCursor (cursor: string): number {
  const m = /^s(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  // Worded as the audit search has always answered it.
  if (!m) throw new DomainError('bad-request', 'cursor is not one leix issued')
  return Number(m[1])
}
