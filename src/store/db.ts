import pg from 'pg'

export type Pool = pg.Pool
export type Client = pg.PoolClient
/** Anything that can run a query: the pool, or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'>

// int8 (bigint) columns hold audit sequence numbers and counts well below 2^53.
pg.types.setTypeParser(20, (v) => Number(v))

/** Creates the PostgreSQL pool. The app owns it and ends it on close. */
export function createPool (databaseUrl: string, opts: { max?: number; applicationName?: string } = {}): Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'leix',
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30000,
  })
  // An idle client losing its connection must not crash the process; the next query reconnects.
  // (Callers that want to log it add their own listener.)
  pool.on('error', () => {})
  // Nor may any client at any other moment: pg emits 'error' on a client whose connection drops
  // whether or not it is checked out, and more than once (the server's 57P01, then the socket's
  // end), also after pg-pool removed its own listeners. The query in progress fails by itself.
  pool.on('connect', (client) => { client.on('error', () => {}) })
  return pool
}

/**
 * Runs `fn` with a client checked out of the pool. A checked-out client has no listener of its
 * own: a connection lost meanwhile (server restart, `pg_terminate_backend`, network) would be an
 * unhandled 'error' event that ends the process. The guard takes that event; the query in
 * progress fails with the error, so the unit of work fails and its caller retries it; and the
 * broken client is destroyed on release instead of going back to the pool.
 */
export async function withClient<T> (pool: Pool, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  let broken: Error | undefined
  const onError = (err: Error): void => { broken = err }
  client.on('error', onError)
  try {
    return await fn(client)
  } catch (err) {
    if (isConnectionError(err)) broken ??= err as Error
    throw err
  } finally {
    client.off('error', onError)
    client.release(broken)
  }
}

/**
 * Runs `fn` in one transaction: commits if it returns, rolls back if it throws. Serialisation
 * failures and deadlocks are retried a few times, since they say nothing about the request. A
 * lost connection fails the transaction (PostgreSQL rolls it back) without ending the process.
 */
export async function withTransaction<T> (pool: Pool, fn: (client: Client) => Promise<T>, opts: { retries?: number } = {}): Promise<T> {
  const retries = opts.retries ?? 3
  for (let attempt = 0; ; attempt++) {
    try {
      return await withClient(pool, async (client) => {
        await client.query('BEGIN')
        try {
          const result = await fn(client)
          await client.query('COMMIT')
          return result
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {})
          throw err
        }
      })
    } catch (err) {
      const code = (err as { code?: string }).code
      if ((code === '40001' || code === '40P01') && attempt < retries) continue
      throw err
    }
  }
}

// SQLSTATE classes and socket errors that mean "PostgreSQL (or the way to it) is not there right
// now", not "this statement is wrong": 08 connection exception, 57P01-57P03 shutdown or start-up,
// 53300 too many connections.
const CONNECTION_SQLSTATES = /^(08...|57P0[123]|53300)$/
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])
// The last two are ioredis's: a command given up while Redis is unreachable.
const CONNECTION_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable|Cannot use a pool after calling end|Connection is closed|Reached the max retries per request limit|Stream isn't writeable/

/**
 * Whether `err` says PostgreSQL (or Redis) is unreachable or the connection to it was lost, so
 * the work may succeed later unchanged: intake answers 503 `unavailable`, workers retry.
 */
export function isConnectionError (err: unknown): boolean {
  if (!err || typeof err !== 'object') return false
  const { code, message } = err as { code?: unknown; message?: unknown }
  if (typeof code === 'string' && (CONNECTION_SQLSTATES.test(code) || CONNECTION_ERRNOS.has(code))) return true
  if (typeof message === 'string' && CONNECTION_MESSAGES.test(message)) return true
  const inner = (err as { errors?: unknown[] }).errors // AggregateError from a multi-address connect
  return Array.isArray(inner) && inner.some(isConnectionError)
}

/** `url` without its password, for messages and logs. */
export function redactUrl (url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '(unparseable URL)'
  }
}

/** Creates the database named in `databaseUrl` if it does not exist (connects to `postgres`). */
export async function ensureDatabase (databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl)
  const name = decodeURIComponent(url.pathname.slice(1))
  if (!name) return
  url.pathname = '/postgres'
  const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 5000 })
  client.on('error', () => {}) // a lost connection fails the query below, which is what we report
  await client.connect()
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
    if (!rowCount) {
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`).catch((err: { code?: string }) => {
        if (err.code !== '42P04' && err.code !== '23505') throw err // created concurrently
      })
    }
  } finally {
    await client.end()
  }
}
