import pg from 'pg'

export type Pool = pg.Pool
export type Client = pg.PoolClient
/** Anything that can run a query: the pool, or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'>

// int8 (bigint) columns hold audit sequence numbers and counts well below 2^53.
pg.types.setTypeParser(20, (v) => Number(v))

/** Creates the PostgreSQL pool. The app owns it and ends it on close. */
export function createPool(databaseUrl: string, opts: { max?: number; applicationName?: string } = {}): Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'leix',
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30000,
  })
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {})
  return pool
}

/**
 * Runs `fn` in one transaction: commits if it returns, rolls back if it throws. Serialisation
 * failures and deadlocks are retried a few times, since they say nothing about the request.
 */
export async function withTransaction<T>(pool: Pool, fn: (client: Client) => Promise<T>, opts: { retries?: number } = {}): Promise<T> {
  const retries = opts.retries ?? 3
  for (let attempt = 0; ; attempt++) {
    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      const result = await fn(client)
      await client.query('COMMIT')
      return result
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      const code = (err as { code?: string }).code
      if ((code === '40001' || code === '40P01') && attempt < retries) continue
      throw err
    } finally {
      client.release()
    }
  }
}

/** Creates the database named in `databaseUrl` if it does not exist (connects to `postgres`). */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl)
  const name = decodeURIComponent(url.pathname.slice(1))
  if (!name) return
  url.pathname = '/postgres'
  const client = new pg.Client({ connectionString: url.toString() })
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
