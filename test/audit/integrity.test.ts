// What is shown is what is hashed, and the broker checks itself (issue: an audit log that holds
// against its own operator). A superuser edits sealed rows around the append-only triggers:
//   - an edited column copy (type, time, exchange, message, agencies, actor) never changes what
//     is served: every route that serves the event answers as before or refuses (500
//     audit-integrity), and the self-check names the seq;
//   - an edited line is an integrity error on every route that serves it, an alarm (a row, an
//     `audit.alarm` event, an error log), readiness fails naming the seq, and the sealer stops
//     signing until a full walk passes again (`leix audit self-check --resolve`);
//   - the sealer refuses a made-up event written straight into the table.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { verifyExport } from '../../src/audit/export/verify.ts'
import { fullSelfCheck } from '../../src/audit/self-check.ts'
import pg from 'pg'
import { count, databaseUrlAs, tokenFor } from '../helpers.ts'
import { auditTestApp, brokerJwks, sendRequest } from './fixtures.ts'

const a = await auditTestApp(t, { config: { sealMaxAgeSeconds: 5, supervisors: ['EU-EUROPOL/auditor-7'] } })
const { app, rt, audit, clock } = a
const jwks = await brokerJwks(app)
const al = tokenFor(app, 'AL-ASP')
const me = tokenFor(app, 'ME-UP')
// The whole-log reader is the oversight body's supervisor (LEIX_SUPERVISORS): search and export.
const auditor = tokenFor(app, 'EU-EUROPOL', ['supervisor'], 'auditor-7')
const get = (url: string, token: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } })

const first = await sendRequest(a, 'AL-ASP', 'RS-MUP')
await sendRequest(a, 'ME-UP', 'MK-MVR')
await audit.runOnce()
t.ok((await audit.selfCheck({ full: true })).ok, 'the intact log passes the self-check')

/** Runs SQL as a superuser around the append-only triggers (what the attacker did). */
const superuser = new pg.Pool({ connectionString: databaseUrlAs(rt.config.databaseUrl, 'admin'), max: 1 })
t.teardown(() => superuser.end())
async function asSuperuser (sql: string, params: unknown[] = []): Promise<void> {
  const client = await superuser.connect()
  try {
    await client.query('BEGIN')
    await client.query('SET LOCAL session_replication_role = replica')
    await client.query(sql, params)
    await client.query('COMMIT')
  } finally {
    client.release()
  }
}

const seqOf = async (type: string, exchangeId: string): Promise<number> =>
  (await rt.pool.query<{ seq: number }>('SELECT seq FROM audit_events WHERE type = $1 AND exchange_id = $2 AND seq IS NOT NULL', [type, exchangeId])).rows[0]!.seq

/** Everything leix serves about one sealed event, as its parties and an auditor see it. */
async function served (seq: number, exchangeId: string): Promise<Record<string, { status: number, body: string }>> {
  const out: Record<string, { status: number, body: string }> = {}
  const take = async (name: string, url: string, token: string, pick: (b: any) => unknown = (b) => b) => {
    const res = await get(url, token)
    out[name] = { status: res.statusCode, body: res.statusCode === 200 ? JSON.stringify(pick(res.json())) : res.json().code }
  }
  await take('event (party)', `/v1/audit/events/${seq}`, al)
  await take('event (stranger)', `/v1/audit/events/${seq}`, me)
  await take('proof (party)', `/v1/audit/proofs/inclusion?seq=${seq}`, al, (b) => ({ line: b.line, leafHash: b.leafHash }))
  await take('search (auditor)', `/v1/audit/events?exchange=${exchangeId}`, auditor)
  await take('timeline (party)', `/v1/exchanges/${exchangeId}`, al, (b) => b.timeline)
  await take('timeline (other party)', `/v1/exchanges/${exchangeId}`, tokenFor(app, 'RS-MUP'))
  return out
}

t.test('an edited column copy changes nothing served; the self-check names the seq', async (t) => {
  const seq = await seqOf('message.accepted', first.exchangeId)
  const before = await served(seq, first.exchangeId)
  t.equal(before['event (party)']!.status, 200)
  t.equal(before['event (stranger)']!.status, 404)
  const edits: Array<[string, string, unknown[]]> = [
    ['type', "UPDATE audit_events SET type = 'access.denied' WHERE seq = $1", [seq]],
    ['at', "UPDATE audit_events SET at = at - interval '1 day' WHERE seq = $1", [seq]],
    ['agencies', "UPDATE audit_events SET agencies = ARRAY['ME-UP'] WHERE seq = $1", [seq]],
    ['actor', "UPDATE audit_events SET actor = 'someone-else' WHERE seq = $1", [seq]],
    ['message_id', 'UPDATE audit_events SET message_id = $2 WHERE seq = $1', [seq, randomUUID()]],
    ['exchange_id', 'UPDATE audit_events SET exchange_id = $2 WHERE seq = $1', [seq, randomUUID()]],
    ['event (JSON copy)', 'UPDATE audit_events SET event = jsonb_set(event, \'{agencies}\', \'["ME-UP"]\') WHERE seq = $1', [seq]],
  ]
  for (const [column, sql, params] of edits) {
    const { rows } = await rt.pool.query('SELECT type, at, agencies, actor, message_id, exchange_id, event FROM audit_events WHERE seq = $1', [seq])
    const original = rows[0]
    await asSuperuser(sql, params)
    const after = await served(seq, first.exchangeId)
    for (const [route, answer] of Object.entries(after)) {
      const same = answer.status === before[route]!.status && answer.body === before[route]!.body
      const refused = answer.status === 500 && answer.body === 'audit-integrity'
      t.ok(same || refused, `${column} edited: ${route} answers as before or refuses (${answer.status} ${answer.body.slice(0, 60)})`)
    }
    t.equal(after['event (stranger)']!.status, 404, `${column} edited: a stranger still cannot see the event`)
    // The self-check compares every column with its line (the JSON copy is not served once sealed).
    await rt.pool.query('UPDATE audit_alarms SET resolved_at = now() WHERE resolved_at IS NULL')
    const walk = await audit.selfCheck({ full: true })
    if (column === 'event (JSON copy)') t.ok(walk.ok, 'the JSON copy of a sealed event is never served: nothing to flag')
    else t.match(walk, { ok: false, seq }, `${column} edited: the self-check names seq ${seq}`)
    await asSuperuser('UPDATE audit_events SET type = $2, at = $3, agencies = $4, actor = $5, message_id = $6, exchange_id = $7, event = $8 WHERE seq = $1',
      [seq, original.type, original.at, original.agencies, original.actor, original.message_id, original.exchange_id, original.event])
    await rt.pool.query('UPDATE audit_alarms SET resolved_at = now() WHERE resolved_at IS NULL')
  }
  t.ok((await audit.selfCheck({ full: true })).ok, 'restored: the self-check passes again')
  // No false access.denied from the edited agencies column was recorded for the real party.
  t.equal(await count(rt, "SELECT 1 FROM audit_events WHERE type = 'access.denied' AND actor = 'al-asp-officer-1'"), 0)
})

t.test('an edited line is refused everywhere, raises an alarm, fails readiness and stops signing', async (t) => {
  const seq = await seqOf('exchange.opened', first.exchangeId)
  const { rows } = await rt.pool.query<{ line: string }>('SELECT line FROM audit_events WHERE seq = $1', [seq])
  const line = rows[0]!.line
  const forged = line.replace('"outcome":"ok"', '"outcome":"rejected"')
  t.not(forged, line)
  await asSuperuser('UPDATE audit_events SET line = $2 WHERE seq = $1', [seq, forged])

  const alarmsBefore = await count(rt, 'SELECT 1 FROM audit_alarms')
  const after = await served(seq, first.exchangeId)
  for (const route of ['event (party)', 'proof (party)', 'search (auditor)', 'timeline (party)', 'timeline (other party)']) {
    t.same(after[route], { status: 500, body: 'audit-integrity' }, `${route}: 500 audit-integrity`)
  }
  const res = await get(`/v1/audit/events/${seq}`, al)
  t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.match(res.json(), { type: 'urn:leix:problem:audit-integrity', status: 500, seq })
  t.ok(await count(rt, 'SELECT 1 FROM audit_alarms') > alarmsBefore, 'each refusal raised an alarm')
  t.ok(await count(rt, "SELECT 1 FROM audit_events WHERE type = 'audit.alarm' AND (event -> 'details' ->> 'seq')::int = $1", [seq]) > 0, 'recorded as audit.alarm naming the seq')

  // The export is cut where the line fails: no signed statement, so no verifier accepts it.
  const exported = await get('/v1/audit/export', auditor).catch((err: Error) => err)
  if (!(exported instanceof Error)) {
    const r = await verifyExport(exported.body.trimEnd().split('\n'), jwks)
    t.equal(r.ok, false, 'a partial export does not verify')
  }

  const ready = (await app.inject('/health/ready')).json().checks['audit-seal']
  t.equal(ready.ok, false)
  t.match(ready.reason, new RegExp(`audit integrity alarm at seq ${seq}`))
  t.equal((await app.inject('/health/ready')).statusCode, 503)

  // Fail closed: nothing is sealed or signed over the damaged log; intake follows the gate.
  const checkpoints = await count(rt, 'SELECT 1 FROM audit_checkpoints')
  await sendRequest(a)
  t.match(await audit.sealOnce(), { status: 'halted' })
  clock.advance(6000)
  const health = await audit.runOnce()
  t.match(health.sealer, /^halted: /)
  t.equal(await count(rt, 'SELECT 1 FROM audit_checkpoints'), checkpoints, 'no checkpoint signed')
  t.equal(health.closed, true, 'intake closes once events wait beyond the limit')
  t.equal((await get('/v1/audit/export?from=0&to=2', auditor)).statusCode, 503, 'no checkpoint signed for an export either')

  // A full walk with --resolve fails while the line is wrong, and resolves once it is restored.
  const failing = await fullSelfCheck(rt.pool, { jwks, origin: 'leix.test', resolve: true, at: clock.now() })
  t.match(failing, { ok: false, seq, resolved: 0 })
  await asSuperuser('UPDATE audit_events SET line = $2 WHERE seq = $1', [seq, line])
  const passing = await fullSelfCheck(rt.pool, { jwks, origin: 'leix.test', resolve: true, at: clock.now() })
  t.match(passing, { ok: true })
  t.ok(passing.resolved > 0, 'open alarms resolved')
  const recovered = await audit.runOnce()
  t.equal(recovered.sealer, 'ok')
  t.equal(recovered.closed, false)
  t.equal((await app.inject('/health/ready')).statusCode, 200)
  const alarms = await rt.pool.query("SELECT line FROM audit_events WHERE type = 'audit.alarm' AND seq IS NOT NULL")
  t.ok(alarms.rows.some((r) => /"reason":"resolved"/.test(r.line)), 'the resolution is itself sealed')
  t.ok((await audit.selfCheck({ full: true })).ok)
})

t.test('the incremental self-check catches an edit of a leaf it has not walked yet, and a node or checkpoint edit', async (t) => {
  await audit.runOnce()
  t.ok((await audit.selfCheck()).ok)
  await sendRequest(a)
  await audit.runOnce()
  const { rows } = await rt.pool.query<{ seq: number; leaf_hash: Buffer }>('SELECT seq, leaf_hash FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1')
  const last = rows[0]!
  await asSuperuser('UPDATE audit_events SET leaf_hash = $2 WHERE seq = $1', [last.seq, Buffer.alloc(32, 1)])
  t.match(await audit.selfCheck(), { ok: false, seq: last.seq }, 'a new leaf whose hash was rewritten')
  await asSuperuser('UPDATE audit_events SET leaf_hash = $2 WHERE seq = $1', [last.seq, last.leaf_hash])
  await rt.pool.query('UPDATE audit_alarms SET resolved_at = now() WHERE resolved_at IS NULL')

  const node = (await rt.pool.query<{ level: number; idx: number; hash: Buffer }>('SELECT level, idx, hash FROM audit_nodes ORDER BY level DESC LIMIT 1')).rows[0]!
  await asSuperuser('UPDATE audit_nodes SET hash = $3 WHERE level = $1 AND idx = $2', [node.level, node.idx, Buffer.alloc(32, 2)])
  t.match(await audit.selfCheck({ full: true }), { ok: false, reason: /tree node/ }, 'a rewritten tree node')
  await asSuperuser('UPDATE audit_nodes SET hash = $3 WHERE level = $1 AND idx = $2', [node.level, node.idx, node.hash])
  await rt.pool.query('UPDATE audit_alarms SET resolved_at = now() WHERE resolved_at IS NULL')

  const cp = (await rt.pool.query<{ tree_size: number; jws: string }>('SELECT tree_size, jws FROM audit_checkpoints ORDER BY tree_size LIMIT 1')).rows[0]!
  await asSuperuser('UPDATE audit_checkpoints SET jws = $2 WHERE tree_size = $1', [cp.tree_size, cp.jws.slice(0, -4) + 'AAAA'])
  t.match(await audit.selfCheck({ full: true }), { ok: false, seq: cp.tree_size - 1, reason: /checkpoint of size/ }, 'a checkpoint whose signature fails')
  await asSuperuser('UPDATE audit_checkpoints SET jws = $2 WHERE tree_size = $1', [cp.tree_size, cp.jws])
  await rt.pool.query('UPDATE audit_alarms SET resolved_at = now() WHERE resolved_at IS NULL')

  await asSuperuser('DELETE FROM audit_events WHERE seq = 1')
  t.match(await audit.selfCheck({ full: true }), { ok: false, seq: 1, reason: /missing/ }, 'a deleted sealed event')
})

t.test('the sealer refuses a made-up event written straight into the table, with an alarm', async (t) => {
  await asSuperuser('UPDATE audit_alarms SET resolved_at = now() WHERE resolved_at IS NULL')
  // A fresh database state is not needed: the sealer only looks at waiting rows.
  const madeUp = [
    { id: randomUUID(), type: 'message.teleported', at: clock.now().toISOString(), actor: { kind: 'broker' }, agencies: [], outcome: 'ok' },
    { id: randomUUID(), type: 'message.consulted', at: clock.now().toISOString(), actor: { kind: 'person', id: 'x' }, agencies: ['AL-ASP'], outcome: 'ok', justification: 'checking on Ivan, born 1980-01-01' },
    { id: randomUUID(), type: 'delivery.succeeded', at: new Date(clock.now().getTime() + 3600_000).toISOString(), actor: { kind: 'broker' }, messageId: randomUUID(), agencies: [], outcome: 'ok' },
    { id: randomUUID(), type: 'exchange.closed', at: clock.now().toISOString(), actor: { kind: 'broker' }, agencies: [], outcome: 'ok' },
  ]
  for (const e of madeUp) {
    await rt.pool.query('INSERT INTO audit_events (id, type, at, agencies, actor, event) VALUES ($1, $2, $3, $4, $5, $6)',
      [e.id, e.type, e.at, e.agencies, (e.actor as { id?: string }).id ?? 'broker', e])
  }
  // One valid event whose column copy lies about its agencies.
  const lying = { id: randomUUID(), type: 'delivery.succeeded', at: clock.now().toISOString(), actor: { kind: 'broker' }, messageId: randomUUID(), agencies: ['AL-ASP'], outcome: 'ok' }
  await rt.pool.query('INSERT INTO audit_events (id, type, at, message_id, agencies, actor, event) VALUES ($1, $2, $3, $4, $5, $6, $7)',
    [lying.id, lying.type, lying.at, lying.messageId, ['ME-UP'], 'broker', lying])
  const r = await audit.sealOnce()
  t.equal(r.status, 'sealed')
  const refused = await rt.pool.query<{ id: string; refused: string; seq: number | null }>('SELECT id, refused, seq FROM audit_events WHERE id = ANY($1)', [[...madeUp, lying].map((e) => e.id)])
  t.equal(refused.rowCount, 5)
  for (const row of refused.rows) {
    t.equal(row.seq, null, 'never sequenced')
    t.type(row.refused, 'string', `refused: ${row.refused}`)
  }
  const alarms = await rt.pool.query<{ line: string }>("SELECT line FROM audit_events WHERE type = 'audit.alarm' AND seq IS NOT NULL AND line LIKE '%invalid-event%'")
  t.equal(alarms.rowCount, 5, 'one sealed alarm event per refused row')
  t.notMatch(alarms.rows.map((r) => r.line).join('\n'), /Ivan|1980/, 'the alarm does not copy the refused free text')
  t.equal((await audit.runOnce()).unsealed, 0, 'refused rows do not hold the gate closed')
})
