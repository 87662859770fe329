import t from 'tap'
import { randomUUID } from 'node:crypto'
import { buildTestApp, sign, submit, requestMessage, count, databaseUrlAs } from '../helpers.ts'
import { createPool } from '../../src/store/db.ts'
import { GroupCommit, type CommitUnit } from '../../src/store/group-commit.ts'
import { insertStatement, type SqlPart } from '../../src/store/statement.ts'

// Group commit (src/store/group-commit.ts): concurrent submissions share a statement and a COMMIT,
// yet each stays all or nothing, answered only once durable, and idempotent (T4).

const { app, rt, clock, databaseUrl } = await buildTestApp(t)
// The scratch table of the unit tests belongs to the owner role (the app role creates no tables).
const owner = createPool(databaseUrlAs(databaseUrl, 'owner'), { max: 4 })
t.teardown(async () => { await owner.end() })
await owner.query('CREATE TABLE gc_rows (id uuid NOT NULL, part text NOT NULL)')

const stored = async (messageId: string) => ({
  messages: await count(rt, 'SELECT 1 FROM messages WHERE id = $1', [messageId]),
  exchanges: await count(rt, 'SELECT 1 FROM exchanges e JOIN messages m ON m.exchange_id = e.id WHERE m.id = $1', [messageId]),
  events: await count(rt, "SELECT 1 FROM audit_events WHERE message_id = $1 AND type <> 'message.rejected'", [messageId]),
})

t.test('T4: a burst of valid, duplicate, replayed and invalid submissions: each answered as if it came alone', async (t) => {
  const valid = await Promise.all(Array.from({ length: 24 }, async () => {
    const m = requestMessage(clock)
    return { id: m.id as string, jws: await sign(m) }
  }))
  const replayedBase = requestMessage(clock)
  const replayedOther = await sign({ ...replayedBase, createdAt: new Date(clock.now().getTime() - 1000).toISOString() })
  const invalidSchema = requestMessage(clock, {}, { kind: 'no-such-kind' })
  const invalidPrinciple = requestMessage(clock, {}, { createdAt: new Date(clock.now().getTime() - 3_600_000).toISOString() }) // stale (T4)
  const cases = [
    ...valid.map((v) => ({ kind: 'valid', id: v.id, jws: v.jws })),
    // Same bytes twice within the burst: one commit, the other answers the first result.
    ...valid.slice(0, 6).map((v) => ({ kind: 'duplicate', id: v.id, jws: v.jws })),
    { kind: 'replay-base', id: replayedBase.id as string, jws: await sign(replayedBase) },
    { kind: 'replay-other', id: replayedBase.id as string, jws: replayedOther },
    { kind: 'invalid', id: invalidSchema.id as string, jws: await sign(invalidSchema) },
    { kind: 'invalid', id: invalidPrinciple.id as string, jws: await sign(invalidPrinciple) },
  ]
  const answers = await Promise.all(cases.map(async (c) => ({ ...c, res: await submit(app, c.jws) })))

  const byId = new Map<string, { status: number; body: Record<string, unknown> }[]>()
  for (const a of answers) byId.set(a.id, [...(byId.get(a.id) ?? []), { status: a.res.statusCode, body: a.res.json() }])
  for (const v of valid.slice(0, 6)) {
    const both = byId.get(v.id) ?? []
    t.same(both.map((b) => b.status).sort(), [200, 202], `${v.id}: one 202, the duplicate 200`)
    t.equal(both[0]?.body.receipt, both[1]?.body.receipt, 'the duplicate gets the first receipt')
    t.equal(both[0]?.body.exchangeId, both[1]?.body.exchangeId, 'and the same exchange')
  }
  for (const v of valid.slice(6)) t.same(byId.get(v.id)?.map((b) => b.status), [202], `${v.id}: 202`)
  const replay = (byId.get(replayedBase.id as string) ?? []).map((b) => b.status).sort()
  t.same(replay, [202, 409], 'the same id with other bytes: one accepted, the other 409 replayed-message-id')
  for (const a of answers.filter((x) => x.kind === 'invalid')) t.equal(a.res.statusCode, 422, `${a.id}: refused`)

  for (const v of [...valid, { id: replayedBase.id as string }]) {
    t.same(await stored(v.id), { messages: 1, exchanges: 1, events: 3 }, `${v.id}: message, exchange and three events, once`)
    t.ok(await rt.queue.queue.getJob(v.id), `${v.id}: queued`)
  }
  for (const a of answers.filter((x) => x.kind === 'invalid')) {
    t.same(await stored(a.id), { messages: 0, exchanges: 0, events: 0 }, `${a.id}: nothing of it stored`)
  }
})

/**
 * A unit like intake's: set-based rows (here two, into a scratch table) merged with the other
 * units' into one INSERT, and free parts. A bad row fails the merged INSERT; a free part kills
 * the connection.
 */
const unit = (id: string, opts: { fail?: 'constraint' | 'connection' } = {}): CommitUnit => ({
  inserts: [{
    table: 'gc_rows',
    rows: [{ id, part: 'first' }, ...(opts.fail === 'constraint' ? [{ id, part: null }] : []), { id, part: 'final' }],
    sql: (param) => `INSERT INTO gc_rows (id, part) SELECT id, part FROM jsonb_to_recordset(${param}::jsonb) AS r(id uuid, part text)`,
  }],
  // A data-modifying part runs even though nothing reads it; this one ends its own connection.
  parts: opts.fail === 'connection' ? [['bad', ((p) => `INSERT INTO gc_rows (id, part) SELECT ${p.add(id)}, 'bad' FROM (SELECT pg_terminate_backend(pg_backend_pid())) k`) as SqlPart]] : [],
})

t.test('a database error in a batch: the failing unit alone fails, wholly; the others commit', async (t) => {
  // Our own connection, to our own test database: terminating it disturbs no shared service.
  const cases: { fail?: 'constraint' | 'connection'; label: string }[] = [
    { fail: 'constraint', label: 'a constraint violation (NOT NULL)' },
    { fail: 'connection', label: 'the connection killed mid-statement' },
  ]
  for (const c of cases) {
    // One batch in flight at a time, so that the units queued behind the first form one batch.
    const commits = new GroupCommit(owner, { maxInFlight: 1 })
    const ids = Array.from({ length: 8 }, () => randomUUID())
    const bad = ids[4] as string
    const opening = randomUUID()
    const results = await Promise.allSettled([opening, ...ids].map(async (id) => await commits.commit(unit(id, id === bad ? { fail: c.fail } : {}))))
    t.equal(results[0]?.status, 'fulfilled', `${c.label}: the unit before the batch committed`)
    results.slice(1).forEach((r, i) => t.equal(r.status, ids[i] === bad ? 'rejected' : 'fulfilled', `${c.label}: unit ${i} ${ids[i] === bad ? 'fails' : 'commits'}`))
    for (const id of [opening, ...ids]) {
      t.equal(Number((await owner.query('SELECT count(*) AS n FROM gc_rows WHERE id = $1', [id])).rows[0].n), id === bad ? 0 : 2, `${c.label}: ${id === bad ? 'nothing of the failing unit' : 'both rows of a good unit'}`)
    }
    t.equal(commits.pending, 0, 'nothing left waiting')
  }
})

t.test('a unit is answered only after its COMMIT: while the table is locked, nothing resolves', async (t) => {
  const commits = new GroupCommit(owner, { maxInFlight: 1 })
  const locker = await owner.connect()
  await locker.query('BEGIN')
  await locker.query('LOCK TABLE gc_rows IN ACCESS EXCLUSIVE MODE')
  const ids = Array.from({ length: 5 }, () => randomUUID())
  const settled: string[] = []
  const all = ids.map(async (id) => { await commits.commit(unit(id)); settled.push(id) })
  // Wait until the first statement is blocked on the lock (it reaches PostgreSQL when it does:
  // on a loaded machine that takes a while) and the rest queue behind it.
  const waiting = async () => (await owner.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'gc_rows'::regclass AND NOT granted")).rows[0]?.n ?? 0
  for (let i = 0; i < 400 && (commits.pending < ids.length || await waiting() === 0); i++) await new Promise((resolve) => setTimeout(resolve, 25))
  t.ok(await waiting() >= 1, 'the batch statement waits for the lock')
  t.same(settled, [], 'no unit answered before its commit')
  await locker.query('ROLLBACK')
  locker.release()
  await Promise.all(all)
  t.same(settled.sort(), [...ids].sort(), 'all answered after it')
})

t.test('set-based: a statement of 1 or of 64 units has one text and one name (one prepared plan); free parts make it unnamed', async (t) => {
  const one = insertStatement([unit(randomUUID())])
  const many = insertStatement(Array.from({ length: 64 }, () => unit(randomUUID())))
  t.equal(one.text, many.text, 'the same text')
  t.equal(one.name, 'leix-insert:gc_rows', 'named by its tables')
  t.equal(many.name, one.name, 'the same name')
  t.equal(many.values.length, 1, 'the rows of every unit in one parameter')
  t.equal((JSON.parse(many.values[0] as string) as unknown[]).length, 128, 'two rows of each unit')
  t.equal(insertStatement([unit(randomUUID(), { fail: 'connection' })]).name, undefined, 'free SQL: not named')
  t.throws(() => insertStatement([{ inserts: [{ table: 'gc_rows; DROP TABLE x', rows: [], sql: () => '' }] }]), /not a table name/)

  // Through the pool, the named statement is prepared once per connection and reused.
  const client = await owner.connect()
  try {
    for (let i = 0; i < 3; i++) await client.query(insertStatement(Array.from({ length: i + 1 }, () => unit(randomUUID()))))
    const { rows } = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'leix-insert:gc_rows'")
    t.equal(rows[0]?.n, 1, 'one prepared statement on the connection')
  } finally {
    client.release()
  }
})
