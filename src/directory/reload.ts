// Directory and broker key reload without restart (SIGHUP, POST /v1/admin/directory/reload): the
// new file is validated first; only a valid one replaces the loaded one, in place, and the change
// is an audit event.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { JWK } from 'jose'
import { canonicalString } from '../audit/canonical.ts'
import { recordEvent } from '../audit/record.ts'
import { loadBrokerKey, reloadBrokerKey, type SigningKey, type TokenKeys } from '../config/keys.ts'
import { refuseDevelopmentKeys } from '../runtime.ts'
import type { Config } from '../config/config.ts'
import type { Queryable } from '../store/db.ts'
import { DirectoryError, buildDirectory } from './load.ts'
import type { Directory } from './types.ts'

/** What a reload changed, by id (agencies) and kid (keys). */
export interface DirectoryChange {
  agenciesAdded: string[]
  agenciesRemoved: string[]
  keysAdded: string[]
  keysRemoved: string[]
  /** Keys that gained a `leix:revokedAt`. */
  keysRevoked: string[]
}

/** base64url SHA-256 of the RFC 8785 form of the directory document. */
export function directoryDigest (doc: unknown): string {
  return createHash('sha256').update(canonicalString(doc)).digest('base64url')
}

type ValidityKey = JWK & { 'leix:revokedAt'?: string }

export function diffDirectories (before: Directory, after: Directory): DirectoryChange {
  const keys = (d: Directory): Map<string, ValidityKey> => new Map([...d.agencies.values()].flatMap((a) => a.jwks.keys.map((k) => [String(k.kid), k as ValidityKey] as const)))
  const oldKeys = keys(before)
  const newKeys = keys(after)
  return {
    agenciesAdded: [...after.agencies.keys()].filter((id) => !before.agencies.has(id)),
    agenciesRemoved: [...before.agencies.keys()].filter((id) => !after.agencies.has(id)),
    keysAdded: [...newKeys.keys()].filter((kid) => !oldKeys.has(kid)),
    keysRemoved: [...oldKeys.keys()].filter((kid) => !newKeys.has(kid)),
    keysRevoked: [...newKeys].filter(([kid, k]) => k['leix:revokedAt'] !== undefined && oldKeys.has(kid) && oldKeys.get(kid)?.['leix:revokedAt'] === undefined).map(([kid]) => kid),
  }
}

export interface ReloadDeps {
  config: Pick<Config, 'directoryPath' | 'allowInsecureLoopbackWebhooks'> & Config
  /** The loaded directory: replaced in place, since every route and worker holds this object. */
  directory: Directory
  /** The broker's signing key: replaced in place by the ring's active key. */
  brokerKey: SigningKey
  pool: Queryable
  clock: { now(): Date }
  /** For the development-key check outside development (as at start-up). */
  tokenKeys?: TokenKeys
}

export interface ReloadResult {
  digest: string
  changed: DirectoryChange
  brokerKey: { previousKid: string; activeKid: string; rotated: boolean }
}

/**
 * Reads LEIX_DIRECTORY and LEIX_BROKER_KEY again. Both are validated before either replaces
 * what is loaded; an invalid one throws DirectoryError (or ConfigError) and nothing changes.
 * Records `directory.changed` (always: the digest says what is now in force) and, when the
 * active kid moved, `broker-key.rotated`.
 */
export async function reloadTrust (deps: ReloadDeps, actor: { kind: 'broker' } | { kind: 'person'; agency: string; id: string; roles: string[] } = { kind: 'broker' }): Promise<ReloadResult> {
  const path = deps.config.directoryPath
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new DirectoryError(`directory ${path}: ${(err as Error).message}`)
  }
  const digest = directoryDigest(raw)
  const next = buildDirectory(structuredClone(raw), { source: path, allowInsecureLoopbackWebhooks: deps.config.allowInsecureLoopbackWebhooks })
  // Validates the ring before anything is replaced; the swap itself cannot fail.
  const nextKey = loadBrokerKey(deps.config)
  if (!deps.config.devKeys && deps.tokenKeys) refuseDevelopmentKeys(deps.config, next, nextKey, deps.tokenKeys)
  const changed = diffDirectories(deps.directory, next)
  Object.assign(deps.directory, next)
  const brokerKey = { ...reloadBrokerKey(deps.brokerKey, deps.config), rotated: false }
  brokerKey.rotated = brokerKey.previousKid !== brokerKey.activeKid
  const now = deps.clock.now()
  const agencies = actor.kind === 'person' ? [actor.agency] : []
  await recordEvent(deps.pool, {
    type: 'directory.changed', actor, agencies, outcome: 'ok', digest,
    details: Object.fromEntries(Object.entries(changed).map(([k, v]) => [k, (v as string[]).join(',').slice(0, 1000)])),
  }, now)
  if (brokerKey.rotated) {
    await recordEvent(deps.pool, {
      type: 'broker-key.rotated', actor, agencies, outcome: 'ok',
      details: { previousKid: brokerKey.previousKid, activeKid: brokerKey.activeKid },
    }, now)
  }
  return { digest, changed, brokerKey }
}

/**
 * The SIGHUP handler: reloads and logs; an invalid file leaves the loaded one in force and is
 * logged as an error (a signal has no one to answer to). Exported for the server and the tests.
 */
export function sighupHandler (deps: ReloadDeps, log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void }): () => Promise<ReloadResult | undefined> {
  return async () => {
    try {
      const result = await reloadTrust(deps)
      log.info({ digest: result.digest, changed: result.changed, brokerKid: result.brokerKey.activeKid }, 'directory and broker key reloaded (SIGHUP)')
      return result
    } catch (err) {
      log.error({ err }, 'reload refused: the loaded directory and broker key stay in force')
      return undefined
    }
  }
}
