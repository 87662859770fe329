// Files named on the command line. Unreadable or malformed input is a usage error (exit 2), named
// by the option or argument that gave it.
import { readFileSync } from 'node:fs'
import type { JWK } from 'jose'
import { UsageError } from './command.ts'

export function readText (path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw new UsageError(`${what} ${path}: ${(err as Error).message}`)
  }
}

export function readJson (path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown
  } catch (err) {
    throw new UsageError(`${what} ${path}: ${(err as Error).message}`)
  }
}

/** A JWKS file ({keys: [...]}) or a single JWK. */
export function readJwks (path: string, what = '--jwks'): { keys: JWK[] } {
  let value: unknown
  try {
    value = JSON.parse(readText(path, what))
  } catch (err) {
    if (err instanceof UsageError) throw err
    throw new UsageError(`${what} ${path} is not JSON`)
  }
  const v = value as { keys?: unknown; kty?: unknown } | null
  if (Array.isArray(v?.keys)) return { keys: v.keys as JWK[] }
  if (typeof v?.kty === 'string') return { keys: [value as JWK] }
  throw new UsageError(`${what} ${path} is neither a JWKS nor a JWK`)
}
