import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { LeixError } from '../errors.ts'
import { createPool, ensureDatabase, isConnectionError, withClient, type Pool, type Queryable } from './db.ts'

// Schema migrations as data (as BullMQ's src/postgres/migrations/*.sql with its ordered list):
// one `.sql` file each in src/store/migrations/, applied in the order of manifest.json, each
// once, each in its own transaction under a transaction-scoped advisory lock, so that several
// processes starting at once apply each exactly once. The ledger leix_migrations records the
// id and the SHA-256 of the file as applied; a database that applied a migration this code does
// not know, or one whose file changed since, is refused rather than guessed at.

/**
 * The folder of the migrations, found from this module both when it runs from src/store (tsx)
 * and from dist/store (`npm run build`): each is two levels under the package root, and tsc
 * copies no `.sql`, so the compiled build reads the files from src/ (the image copies that one
 * folder, Dockerfile).
 */
export const MIGRATIONS_DIR = new URL('../../src/store/migrations/', import.meta.url)

/** One schema migration: a file `<id>.sql` listed in the manifest. */
export interface Migration {
  /** The file name without `.sql`: a three-digit number, then what it does. */
  readonly id: string
  /** SHA-256 of the file's bytes, lower-case hex (`sha256sum`), as the manifest lists it. */
  readonly checksum: string
  /** The file's text, run as one multi-statement query. */
  readonly sql: string
}

export type MigrationErrorCode =
  /** The manifest or a file is missing or malformed. */
  | 'bad-manifest'
  /** A file's SHA-256 differs from its manifest entry: a shipped migration was edited. */
  | 'changed-file'
  /** The database applied migrations this code does not know (a newer leix migrated it). */
  | 'unknown-migrations'
  /** The database applied a migration whose recorded SHA-256 differs from the file. */
  | 'changed-migrations'
  /** A migration's SQL failed; its transaction was rolled back. */
  | 'failed'

/** Why leix refuses to migrate, or to run on a database: the code says which check failed. */
export class MigrationError extends LeixError<MigrationErrorCode> {}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex')
const ID = /^\d{3}-[a-z0-9-]+$/
const SHA256 = /^[0-9a-f]{64}$/

/**
 * Reads the manifest of `dir` and every file it lists, in its order; throws a MigrationError
 * when the manifest is malformed, a file is missing or its SHA-256 differs from the manifest.
 */
export function loadMigrations (dir: URL = MIGRATIONS_DIR): readonly Migration[] {
  const where = fileURLToPath(dir)
  let manifest: unknown
  try {
    manifest = JSON.parse(readFileSync(new URL('manifest.json', dir), 'utf8'))
  } catch (err) {
    throw new MigrationError('bad-manifest', `cannot read the migrations' manifest.json in ${where} (${(err as Error).message})`, { cause: err })
  }
  const entries = (manifest as { migrations?: unknown } | null)?.migrations
  if (!Array.isArray(entries)) throw new MigrationError('bad-manifest', `${where}manifest.json has no "migrations" list`)
  const seen = new Set<string>()
  return Object.freeze(entries.map((entry: unknown, i): Migration => {
    const { id, sha256: listed } = (entry ?? {}) as { id?: unknown; sha256?: unknown }
    if (typeof id !== 'string' || !ID.test(id) || typeof listed !== 'string' || !SHA256.test(listed) || seen.has(id)) {
      throw new MigrationError('bad-manifest', `${where}manifest.json: entry ${i} needs a new "id" (NNN-name) and a "sha256" (64 hex digits)`)
    }
    seen.add(id)
    let bytes: Buffer
    try {
      bytes = readFileSync(new URL(`${id}.sql`, dir))
    } catch (err) {
      throw new MigrationError('bad-manifest', `cannot read migration ${id} (${(err as Error).message})`, { cause: err })
    }
    const checksum = sha256(bytes)
    if (checksum !== listed) {
      throw new MigrationError('changed-file', `migration ${id}: ${where}${id}.sql has SHA-256 ${checksum}, the manifest ${listed}; a shipped migration is never edited: add a new one`)
    }
    return Object.freeze({ id, checksum, sql: bytes.toString('utf8') })
  }))
}

/** The migrations of this leix, in order (read once, at start; the files do not change). */
export const MIGRATIONS: readonly Migration[] = loadMigrations()

interface Applied {
  id: string
  /** NULL for migrations recorded before leix recorded checksums; migrate() fills them in. */
  checksum: string | null
}

/**
 * What the database has applied. `to_jsonb` reads the checksum whether or not the column exists
 * yet, so a running role can check a database that was last migrated before checksums.
 */
async function readApplied (db: Queryable): Promise<Applied[]> {
  return (await db.query<Applied>("SELECT id, to_jsonb(l) ->> 'checksum' AS checksum FROM leix_migrations l")).rows
}

/**
 * Compares the ledger with `migrations`; throws a MigrationError naming the migrations the code
 * does not know, or those whose recorded checksum differs from the file. Returns the pending ones.
 */
function compare (applied: Applied[], migrations: readonly Migration[]): Migration[] {
  const known = new Map(migrations.map((m) => [m.id, m]))
  const unknown = applied.filter((a) => !known.has(a.id)).map((a) => a.id).sort()
  if (unknown.length) {
    throw new MigrationError('unknown-migrations', `the database has applied migrations this leix does not know: ${unknown.join(', ')}; it was migrated by a newer leix, run that one (migrations are never undone)`)
  }
  const changed = applied.filter((a) => a.checksum !== null && a.checksum !== known.get(a.id)?.checksum)
  if (changed.length) {
    const which = changed.map((a) => `${a.id} (applied with SHA-256 ${a.checksum}, the file has ${known.get(a.id)?.checksum})`)
    throw new MigrationError('changed-migrations', `the database applied migrations that differ from this leix's files: ${which.join(', ')}; a shipped migration was edited: restore it as applied and add a new migration instead`)
  }
  const done = new Set(applied.map((a) => a.id))
  return migrations.filter((m) => !done.has(m.id))
}

const LOCK_KEY = 0x1e1c5 // advisory lock id for migrations

/**
 * Creates the ledger, or brings one from before checksums up to date: adds the column (only
 * then, since ALTER TABLE would block readers of the ledger for the whole transaction) and
 * records, for each migration applied without a checksum, the checksum of its file as it is now.
 * That trusts the files the first time; from then on a change is refused.
 */
async function prepareLedger (client: Queryable, migrations: readonly Migration[]): Promise<void> {
  await client.query('CREATE TABLE IF NOT EXISTS leix_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now(), checksum text)')
  const { rows: [column] } = await client.query<{ missing: boolean }>(
    "SELECT NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'leix_migrations'::regclass AND attname = 'checksum' AND NOT attisdropped) AS missing")
  if (column?.missing) await client.query('ALTER TABLE leix_migrations ADD COLUMN checksum text')
  compare(await readApplied(client), migrations) // refuse before changing anything
  await client.query(
    'UPDATE leix_migrations l SET checksum = m.checksum FROM unnest($1::text[], $2::text[]) AS m(id, checksum) WHERE l.id = m.id AND l.checksum IS NULL',
    [migrations.map((m) => m.id), migrations.map((m) => m.checksum)]
  )
}

/**
 * Applies pending migrations in order; returns the ids applied now. Safe to run concurrently:
 * each migration is one transaction that takes the advisory lock, reads the ledger, applies the
 * next pending migration and records it, so a second migrator waits and then finds it applied.
 * Refuses (MigrationError) a database with migrations this code does not know or changed ones.
 */
export async function migrate (pool: Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<string[]> {
  return await withClient(pool, async (client) => {
    const applied: string[] = []
    for (let first = true; ; first = false) {
      await client.query('BEGIN')
      let next: Migration | undefined
      try {
        await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY])
        if (first) await prepareLedger(client, migrations)
        next = compare(await readApplied(client), migrations)[0]
        if (next) {
          try {
            await client.query(next.sql)
            // Grants follow every migration, so a new table is never left without them (005).
            const { rows: [grants] } = await client.query<{ fn: string | null }>("SELECT to_regprocedure('leix_apply_grants()')::text AS fn")
            if (grants?.fn) await client.query('SELECT leix_apply_grants()')
            await client.query('INSERT INTO leix_migrations (id, checksum) VALUES ($1, $2)', [next.id, next.checksum])
          } catch (err) {
            throw new MigrationError('failed', `migration ${next.id} failed: ${(err as Error).message}`, { cause: err })
          }
        }
        await client.query('COMMIT')
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {}) // a lost connection rolled it back already
        throw err
      }
      if (!next) return applied
      applied.push(next.id)
    }
  })
}

/**
 * `leix migrate`: connects as the owner role (`migrationUrl(config)`), creates the database if
 * that role may, applies what is pending and disconnects. Returns the ids applied now.
 */
export async function migrateDatabase (ownerUrl: string): Promise<string[]> {
  await ensureDatabase(ownerUrl).catch((err: Error & { code?: string }) => {
    // No CREATEDB: fine when the administrator created the database (leix db roles).
    if (err.code !== '42501') throw err
  })
  const pool = createPool(ownerUrl, { max: 1, applicationName: 'leix-migrate' })
  try {
    return await migrate(pool)
  } finally {
    await pool.end()
  }
}

/**
 * Migrations not yet applied, as the running role sees them (start-up). Throws a MigrationError
 * when the database applied migrations this code does not know or changed ones, and the
 * database's own error when it cannot be read (down, wrong password, no grants).
 */
export async function unappliedMigrations (db: Queryable, migrations: readonly Migration[] = MIGRATIONS): Promise<string[]> {
  let applied: Applied[]
  try {
    applied = await readApplied(db)
  } catch (err) {
    if ((err as { code?: string }).code !== '42P01') throw err // 42P01: no table yet, nothing applied
    applied = []
  }
  return compare(applied, migrations).map((m) => m.id)
}

/**
 * Migrations not yet applied (for `/health/ready`): as unappliedMigrations, but a database that
 * cannot be reached is said to be unavailable, not to lack every migration.
 */
export async function pendingMigrations (db: Queryable): Promise<string[]> {
  try {
    return await unappliedMigrations(db)
  } catch (err) {
    if (!isConnectionError(err)) throw err
    throw new Error(`PostgreSQL is unavailable (${(err as Error).message}); the applied migrations cannot be read`, { cause: err })
  }
}
