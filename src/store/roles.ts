// Least privilege in the database (README "Database roles").
//
// Three roles: the owner runs migrations and owns every table; the app role (gateway and workers)
// and the sealer role own nothing and hold only grants. Migration 005 grants to `leix_app` and
// `leix_sealer` and installs triggers that let only the sealer seal; the owner is whoever runs
// `leix migrate`. Roles are cluster-wide, so an administrator creates them once (`leix db roles`,
// or the SQL it prints), not every migration: creating roles needs CREATEROLE, which the owner
// should not hold.
import pg from 'pg'
import { DATABASE_ROLES } from '../config/config.ts'
import type { Queryable } from './db.ts'
import { unappliedMigrations } from './migrations.ts'

/** A login role to create: its name and, when it logs in with a password, the password. */
export interface LoginRole {
  user: string
  password?: string
}

export interface RoleSpec {
  owner: LoginRole
  app: LoginRole
  sealer: LoginRole
}

/** The login role in a connection string (user and password). */
export function loginOf (url: string): LoginRole {
  const u = new URL(url)
  const user = decodeURIComponent(u.username)
  if (!user) throw new Error(`no user in ${u.protocol}//${u.host}${u.pathname}: name the role in the connection string`)
  return { user, ...(u.password ? { password: decodeURIComponent(u.password) } : {}) }
}

const id = (s: string): string => pg.escapeIdentifier(s)
const lit = (s: string): string => pg.escapeLiteral(s)

/** `DO` block that creates a role unless it exists (also when another session creates it at the same moment). */
function createRole (name: string, attributes: string, password?: string): string {
  const withPassword = password ? ` PASSWORD ${lit(password)}` : ''
  const alter = password ? `ALTER ROLE ${id(name)} PASSWORD ${lit(password)};` : 'NULL;'
  return `DO $leix$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${lit(name)}) THEN
    CREATE ROLE ${id(name)} ${attributes}${withPassword};
  ELSE
    ${alter}
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- created concurrently
END $leix$`
}

/**
 * Idempotent statements that create the three roles (run by a database administrator). The app
 * and sealer logins are, or are members of, `leix_app` and `leix_sealer`; none is superuser, none
 * may create roles or databases.
 */
export function roleStatements (spec: RoleSpec): string[] {
  const limits = 'NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS'
  const statements = [createRole(spec.owner.user, `LOGIN ${limits}`, spec.owner.password)]
  for (const kind of ['app', 'sealer'] as const) {
    const group = DATABASE_ROLES[kind]
    const login = spec[kind]
    if (login.user === group) {
      statements.push(createRole(group, `LOGIN ${limits}`, login.password))
    } else {
      statements.push(createRole(group, `NOLOGIN ${limits}`))
      statements.push(createRole(login.user, `LOGIN ${limits}`, login.password))
      statements.push(`GRANT ${id(group)} TO ${id(login.user)}`)
    }
  }
  return statements
}

/** Statements, run in the database itself, that hand an existing database's objects to the owner. */
export function ownershipStatements (owner: string): string[] {
  return [`DO $leix$ DECLARE r record; BEGIN
  FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') AND c.relowner <> ${lit(owner)}::regrole LOOP
    EXECUTE format('ALTER TABLE %I OWNER TO %I', r.relname, ${lit(owner)});
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'public' AND p.proowner <> ${lit(owner)}::regrole LOOP
    EXECUTE format('ALTER FUNCTION %s OWNER TO %I', r.fn, ${lit(owner)});
  END LOOP;
END $leix$`]
}

/** The whole set-up as a psql script, for an administrator who prefers to run it by hand. */
export function setupScript (spec: RoleSpec, database: string): string {
  return [
    '-- leix database roles (README "Database roles"). Run as a PostgreSQL superuser with psql; idempotent.',
    ...roleStatements(spec).map((s) => `${s};`),
    `SELECT format('CREATE DATABASE %I OWNER %I', ${lit(database)}, ${lit(spec.owner.user)})
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = ${lit(database)}) \\gexec`,
    `ALTER DATABASE ${id(database)} OWNER TO ${id(spec.owner.user)};`,
    `\\connect ${id(database)}`,
    ...ownershipStatements(spec.owner.user).map((s) => `${s};`),
    '',
  ].join('\n')
}

const ROLES_LOCK = 0x1e1c5b // advisory lock in the admin database: one set-up at a time

/**
 * Creates the roles and the database (owned by the owner role), and hands an existing database's
 * tables to the owner. Safe when several processes run it at once: the whole set-up runs under a
 * session advisory lock in the admin database. Each step alone is not safe to repeat concurrently:
 * two sessions that change the owner of the same database (or function) at once make the second
 * fail with "tuple concurrently updated" (XX000), which PostgreSQL raises for catalog rows that
 * no lock protects. The role statements still tolerate a concurrent CREATE from an older leix or
 * an administrator's psql script, which do not take the lock.
 */
export async function setUpDatabase (adminUrl: string, spec: RoleSpec, database?: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try {
    await admin.query('SELECT pg_advisory_lock($1)', [ROLES_LOCK])
    // Released when the session ends (below, also on error), so no explicit unlock.
    await admin.query('BEGIN')
    try {
      for (const statement of roleStatements(spec)) await admin.query(statement)
      await admin.query('COMMIT')
    } catch (err) {
      await admin.query('ROLLBACK').catch(() => {})
      throw err
    }
    if (!database) return
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])
    if (!rowCount) {
      await admin.query(`CREATE DATABASE ${id(database)} OWNER ${id(spec.owner.user)}`).catch((err: { code?: string }) => {
        if (err.code !== '42P04' && err.code !== '23505') throw err // created by someone who does not take the lock
      })
    }
    await admin.query(`ALTER DATABASE ${id(database)} OWNER TO ${id(spec.owner.user)}`)
    const url = new URL(adminUrl)
    url.pathname = `/${encodeURIComponent(database)}`
    const db = new pg.Client({ connectionString: url.toString() })
    await db.connect()
    try {
      for (const statement of ownershipStatements(spec.owner.user)) await db.query(statement)
    } finally {
      await db.end()
    }
  } finally {
    await admin.end()
  }
}

/** Which connection a privilege check is about, and the variable that configures it. */
export type RunningRole = 'app' | 'sealer'
const VARIABLE: Record<RunningRole, string> = { app: 'DATABASE_URL', sealer: 'LEIX_SEALER_DATABASE_URL' }

interface Expectation {
  /** SQL boolean over current_user. */
  sql: string
  /** What it means when the expression is true but must not be, or false but must be. */
  what: string
  want: boolean
}

const AUDIT = ['audit_events', 'audit_nodes', 'audit_checkpoints', 'audit_state']
const APP_TABLES = ['exchanges', 'messages', 'deliveries', 'notifications']
const table = (t: string, p: string, want: boolean): Expectation => ({ sql: `has_table_privilege('${t}', '${p}')`, what: `${p} on ${t}`, want })
const anyColumn = (t: string, p: string, want: boolean): Expectation => ({ sql: `has_any_column_privilege('${t}', '${p}')`, what: `${p} on ${t}`, want })
const column = (t: string, c: string, p: string, want: boolean): Expectation => ({ sql: `has_column_privilege('${t}', '${c}', '${p}')`, what: `${p} on ${t} (${c})`, want })

/** What each running role must hold, and must not. */
const EXPECTATIONS: Record<RunningRole, Expectation[]> = {
  app: [
    ...APP_TABLES.flatMap((t) => ['SELECT', 'INSERT', 'UPDATE'].map((p) => table(t, p, true))),
    ...AUDIT.map((t) => table(t, 'SELECT', true)),
    table('leix_migrations', 'SELECT', true),
    column('audit_events', 'event', 'INSERT', true),
    column('audit_events', 'seq', 'INSERT', false),
    ...AUDIT.flatMap((t) => [anyColumn(t, 'UPDATE', false), table(t, 'DELETE', false), table(t, 'TRUNCATE', false)]),
    table('audit_nodes', 'INSERT', false),
    table('audit_checkpoints', 'INSERT', false),
    { sql: `pg_has_role('${DATABASE_ROLES.sealer}', 'MEMBER')`, what: `membership of ${DATABASE_ROLES.sealer}`, want: false },
  ],
  sealer: [
    ...AUDIT.map((t) => table(t, 'SELECT', true)),
    column('audit_events', 'seq', 'UPDATE', true),
    column('audit_events', 'line', 'UPDATE', true),
    column('audit_events', 'leaf_hash', 'UPDATE', true),
    column('audit_events', 'event', 'INSERT', true),
    table('audit_nodes', 'INSERT', true),
    table('audit_checkpoints', 'INSERT', true),
    table('audit_state', 'UPDATE', true),
    column('audit_events', 'event', 'UPDATE', false),
    column('audit_events', 'seq', 'INSERT', false),
    table('audit_nodes', 'UPDATE', false),
    table('audit_checkpoints', 'UPDATE', false),
    ...AUDIT.flatMap((t) => [table(t, 'DELETE', false), table(t, 'TRUNCATE', false)]),
    { sql: `pg_has_role('${DATABASE_ROLES.sealer}', 'MEMBER')`, what: `membership of ${DATABASE_ROLES.sealer}`, want: true },
  ],
}

/**
 * Checks that a running connection has exactly what its role needs: not superuser, owns no table,
 * cannot create in the schema or switch triggers off, holds its grants. Returns one sentence per
 * problem (empty when all is well); run after migrations.
 */
export async function checkRunningRole (db: Queryable, role: RunningRole): Promise<string[]> {
  const { rows: [me] } = await db.query<{ user: string; superuser: boolean; bypassrls: boolean; owns: string[]; create: boolean; version: number; missing: string[] }>(
    `SELECT current_user AS user, r.rolsuper AS superuser, r.rolbypassrls AS bypassrls,
            ARRAY(SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'public' AND pg_has_role(c.relowner, 'USAGE') ORDER BY 1) AS owns,
            has_schema_privilege('public', 'CREATE') AS create,
            current_setting('server_version_num')::int AS version,
            ARRAY(SELECT relname FROM unnest($1::text[]) AS t(relname) WHERE to_regclass(relname) IS NULL) AS missing
       FROM pg_roles r WHERE r.rolname = current_user`,
    [[...AUDIT, ...APP_TABLES, 'leix_migrations']]
  )
  if (!me) throw new Error('current_user is not in pg_roles')
  const who = `${VARIABLE[role]} connects as ${me.user}, which`
  if (me.superuser) return [`${who} is a superuser; leix runs as roles that own nothing (README "Database roles")`]
  if (me.missing.length) return [`the database lacks ${me.missing.join(', ')}: run \`leix migrate\``]
  const problems: string[] = []
  if (me.bypassrls) problems.push(`${who} may bypass row-level security`)
  if (me.owns.length) problems.push(`${who} owns ${me.owns.join(', ')}; the owner role runs migrations only`)
  if (me.create) problems.push(`${who} may create objects in schema public`)
  // PostgreSQL 15 lets a superuser GRANT SET on a superuser-only parameter; earlier ones cannot.
  const replication = me.version >= 150000 &&
    (await db.query<{ ok: boolean }>("SELECT has_parameter_privilege('session_replication_role', 'SET') AS ok")).rows[0]?.ok === true
  if (replication) problems.push(`${who} may set session_replication_role (switching triggers off)`)
  const expectations = EXPECTATIONS[role]
  const { rows: [r] } = await db.query<{ r: boolean[] }>(`SELECT ARRAY[${expectations.map((e) => e.sql).join(', ')}] AS r`)
  expectations.forEach((e, i) => {
    const has = r?.r[i] === true
    if (has && !e.want) problems.push(`${who} holds ${e.what}, which it must not`)
    if (!has && e.want) problems.push(`${who} lacks ${e.what}: run \`leix migrate\` as the owner role`)
  })
  return problems
}

/** The variable whose connection failed, prefixed to the error (which URL is wrong is the question). */
async function via<T> (role: RunningRole, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    const e = err as Error & { code?: string }
    if (e.code === '42501') throw new Error(`${VARIABLE[role]}: ${e.message}: run \`leix migrate\` as the owner role (it grants)`, { cause: err })
    throw new Error(`${VARIABLE[role]}: ${e.message}`, { cause: err })
  }
}

/**
 * The database as the running process needs it: reachable with both connections, migrated, and
 * each connection with exactly its role's privileges. Returns the problems (empty when ready);
 * throws when a connection fails. Start-up refuses on a problem; readiness reports them.
 */
export async function checkDatabaseRoles (pools: { app: Queryable; sealer: Queryable }): Promise<string[]> {
  const pending = await via('app', () => unappliedMigrations(pools.app))
  if (pending.length) return [`migrations pending (${pending.join(', ')}): run \`leix migrate\` (as the owner role, LEIX_MIGRATE_DATABASE_URL)`]
  return [
    ...await via('app', () => checkRunningRole(pools.app, 'app')),
    ...await via('sealer', () => checkRunningRole(pools.sealer, 'sealer')),
  ]
}
