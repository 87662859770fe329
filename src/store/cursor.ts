import { isBoundedInstant } from '../http/input.ts'
import { DomainError } from '../errors.ts'

/**
 * Opaque keyset cursors over (timestamp, uuid): pages stay stable while rows are added. A cursor
 * leix did not give out is a 400, never a database error.
 */
export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(`${at.toISOString()}|${id}`).toString('base64url')
}

export function decodeCursor(cursor: string): [at: string, id: string] {
  const [at, id, extra] = Buffer.from(cursor, 'base64url').toString('utf8').split('|')
  if (!at || !id || extra !== undefined || !isBoundedInstant(at) || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) {
    throw new DomainError('bad-request', 'cursor is not one this API gave out')
  }
  return [at, id]
}
