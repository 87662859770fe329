// The audit API against a real database: proofs verify against signed checkpoints, agencies (their
// auditors and DPOs included) see only their own events, supervisors see all and are themselves logged, consultations need and
// record a justification, retention erases payloads and logs it.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { verifyCheckpoint, checkpointRoot } from '../../src/audit/checkpoint.ts'
import { leafHash } from '../../src/audit/merkle/hash.ts'
import { verifyConsistency, verifyInclusion } from '../../src/audit/merkle/verify.ts'
import { verifyExport } from '../../src/audit/export/verify.ts'
import pg from 'pg'
import { count, databaseUrlAs, requestMessage, sign, submit, tokenFor } from '../helpers.ts'
import { auditTestApp, b64, brokerJwks, sendRequest } from './fixtures.ts'

const a = await auditTestApp(t, { config: { supervisors: ['EU-EUROPOL/auditor-7'] } })
const { app, rt, audit, clock } = a
const jwks = await brokerJwks(app)

const al = tokenFor(app, 'AL-ASP')
const rs = tokenFor(app, 'RS-MUP')
const me = tokenFor(app, 'ME-UP')
// The cross-agency reader: a supervisor listed in LEIX_SUPERVISORS.
const supervisor = tokenFor(app, 'EU-EUROPOL', ['supervisor'], 'auditor-7')
const auditor = tokenFor(app, 'EU-EUROPOL', ['auditor'], 'auditor-8')
const dpo = tokenFor(app, 'DE-BKA', ['dpo'], 'dpo-3')
const alDpo = tokenFor(app, 'AL-ASP', ['dpo'], 'dpo-al')
const get = (url: string, token: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}`, ...headers } })

const first = await sendRequest(a, 'AL-ASP', 'RS-MUP')
const other = await sendRequest(a, 'ME-UP', 'MK-MVR')
const sealedSize = async (): Promise<number> => {
  const r = await audit.sealOnce()
  if (r.status !== 'sealed') throw new Error(`expected a seal, got ${r.status}`)
  return r.treeSize
}
// Two checkpoints (sizes size1 < size2) to prove against.
const size1 = await sealedSize()
await sendRequest(a, 'AL-ASP', 'RS-MUP')
const size2 = await sealedSize()

const timelineSeqs = async (exchangeId: string, token: string): Promise<number[]> => {
  const res = await get(`/v1/exchanges/${exchangeId}`, token)
  t.equal(res.statusCode, 200)
  return res.json().timeline.map((e: { seq: number | null }) => e.seq)
}

t.test('the latest checkpoint is signed by the broker key over the current tree', async (t) => {
  const res = await get('/v1/audit/checkpoints/latest', rs)
  t.equal(res.statusCode, 200)
  const body = res.json()
  const cp = await verifyCheckpoint(body.jws, jwks)
  t.equal(cp.treeSize, size2)
  t.equal(cp.origin, 'leix.test')
  t.equal(body.rootHash, cp.rootHash)
  t.equal((await get(`/v1/audit/checkpoints/${size1}`, rs)).json().treeSize, size1)
  t.equal((await get('/v1/audit/checkpoints/99999', rs)).statusCode, 404)
  t.equal((await app.inject('/v1/audit/checkpoints/latest')).statusCode, 401, 'bearer token required')
})

t.test('an agency proves its own exchange is in the log: timeline seq -> line -> inclusion proof', async (t) => {
  const seqs = await timelineSeqs(first.exchangeId, al)
  t.ok(seqs.length >= 3 && seqs.every((s) => Number.isInteger(s)), 'every timeline entry carries its seq once sealed')
  for (const seq of seqs) {
    const line = (await get(`/v1/audit/events/${seq}`, al)).json()
    t.equal(line.leafHash, leafHash(Buffer.from(line.line, 'utf8')).toString('base64'), 'leaf hash recomputed from the canonical line')
    const res = await get(`/v1/audit/proofs/inclusion?seq=${seq}&treeSize=${size1}`, al)
    t.equal(res.statusCode, 200)
    const proof = res.json()
    const cp = await verifyCheckpoint(proof.checkpoint.jws, jwks)
    t.equal(cp.treeSize, size1)
    t.ok(verifyInclusion(leafHash(Buffer.from(proof.line, 'utf8')), seq, proof.treeSize, proof.auditPath.map(b64), checkpointRoot(cp)), `seq ${seq} is in the signed tree`)
    const later = (await get(`/v1/audit/proofs/inclusion?seq=${seq}`, rs)).json()
    t.equal(later.treeSize, size2, 'default: the newest checkpoint; the other party may ask too')
    t.ok(verifyInclusion(b64(later.leafHash), seq, size2, later.auditPath.map(b64), b64(later.checkpoint.rootHash)))
  }
  t.equal((await get(`/v1/audit/proofs/inclusion?seq=${size2 - 1}&treeSize=${size1}`, al)).statusCode, 400, 'a seq outside the tree size')
})

t.test("another agency's events are refused with 404 and the attempt is logged", async (t) => {
  const [seq] = await timelineSeqs(other.exchangeId, me)
  const denied = () => count(rt, "SELECT 1 FROM audit_events WHERE type = 'access.denied' AND actor = 'al-asp-officer-1'")
  const before = await denied()
  for (const url of [`/v1/audit/proofs/inclusion?seq=${seq}`, `/v1/audit/events/${seq}`]) {
    const res = await get(url, al)
    t.equal(res.statusCode, 404, url)
    t.equal(res.json().code, 'not-found')
  }
  t.equal(await denied(), before + 2, 'access.denied recorded for each attempt')
  t.equal((await get(`/v1/audit/proofs/inclusion?seq=${seq}`, auditor)).statusCode, 404, "another agency's auditor may not")
  t.equal((await get(`/v1/audit/events/${seq}`, dpo)).statusCode, 404, "nor another agency's DPO")
  t.equal((await get(`/v1/audit/proofs/inclusion?seq=${seq}`, supervisor)).statusCode, 200, 'a supervisor may prove any event')
  t.equal((await get('/v1/audit/events/999999', supervisor)).statusCode, 404, 'an unsealed seq')
})

t.test('a consistency proof between two checkpoints verifies', async (t) => {
  const res = await get(`/v1/audit/proofs/consistency?from=${size1}&to=${size2}`, me)
  t.equal(res.statusCode, 200)
  const body = res.json()
  const older = await verifyCheckpoint(body.fromCheckpoint.jws, jwks)
  const newer = await verifyCheckpoint(body.toCheckpoint.jws, jwks)
  t.ok(verifyConsistency(size1, size2, checkpointRoot(older), checkpointRoot(newer), body.consistencyPath.map(b64)))
  t.equal((await get(`/v1/audit/proofs/consistency?from=${size1}`, me)).json().to, size2, 'to defaults to the newest')
  t.equal((await get(`/v1/audit/proofs/consistency?from=${size2}&to=${size1}`, me)).statusCode, 400)
  t.equal((await get(`/v1/audit/proofs/consistency?from=${size1 + 1}&to=${size2}`, me)).statusCode, 404, 'from must be a checkpoint size')
})

t.test('auditors search the log by agency, exchange, type and actor, paged; each search is logged', async (t) => {
  t.equal((await get('/v1/audit/events', al)).statusCode, 403, 'officers may not search the log')
  t.ok(await count(rt, "SELECT 1 FROM audit_events WHERE type = 'access.denied' AND event->'details'->>'resource' = 'audit-events'") >= 1)

  const own = (await get(`/v1/audit/events?exchange=${first.exchangeId}`, alDpo)).json()
  t.ok(own.items.length >= 3 && own.items.every((e: any) => e.agencies.includes('AL-ASP')), "a DPO searches its own agency's events")
  t.equal((await get(`/v1/audit/events?exchange=${other.exchangeId}`, alDpo)).json().items.length, 0, "and finds nothing of another pair's")
  t.equal((await get(`/v1/audit/events?exchange=${first.exchangeId}`, auditor)).json().items.length, 0, "another agency's auditor finds nothing")
  const byExchange = (await get(`/v1/audit/events?exchange=${first.exchangeId}`, supervisor)).json()
  t.ok(byExchange.items.length >= 3)
  t.ok(byExchange.items.every((e: any) => e.exchangeId === first.exchangeId && Number.isInteger(e.seq)))

  const byAgency = (await get('/v1/audit/events?agency=ME-UP', supervisor)).json()
  t.ok(byAgency.items.length > 0 && byAgency.items.every((e: any) => e.agencies.includes('ME-UP')))
  t.ok(byAgency.items.every((e: any) => !e.agencies.includes('AL-ASP') || e.agencies.includes('ME-UP')))

  const byType = (await get('/v1/audit/events?type=message.accepted', supervisor)).json()
  t.equal(byType.items.length, 3)
  const byActor = (await get('/v1/audit/events?actor=officer-0042&type=message.received', alDpo)).json()
  t.equal(byActor.items.length, 2, "by acting officer, among the DPO's agency's events")

  const seen: number[] = []
  let cursor: string | null = null
  do {
    const res = await get(`/v1/audit/events?limit=2${cursor ? `&cursor=${cursor}` : ''}&to=${encodeURIComponent(new Date(clock.now().getTime() + 1000).toISOString())}`, supervisor)
    t.equal(res.statusCode, 200)
    const page = res.json()
    seen.push(...page.items.map((e: { seq: number }) => e.seq))
    cursor = page.nextCursor
  } while (cursor)
  t.same(seen, [...seen].sort((x, y) => x - y), 'pages in seq order')
  t.equal(new Set(seen).size, seen.length, 'no event twice across pages')
  t.ok(seen.length >= size2)
  t.equal((await get('/v1/audit/events?cursor=bm9wZQ', supervisor)).statusCode, 400, 'a forged cursor')

  const queried = await rt.pool.query("SELECT event FROM audit_events WHERE type = 'audit.queried' AND actor = 'auditor-7'")
  t.ok(queried.rowCount! >= 4, 'every search is an audit.queried event')
  const ev = queried.rows.find((r) => r.event.details['filter.exchange'] === first.exchangeId)?.event
  t.match(ev, { actor: { kind: 'person', id: 'auditor-7', agency: 'EU-EUROPOL' }, exchangeId: first.exchangeId, outcome: 'ok' })
})

t.test('an export streams NDJSON that verifies offline, and is itself logged', async (t) => {
  await audit.sealOnce()
  t.equal((await get('/v1/audit/export', auditor)).statusCode, 403, "the export holds every agency's events: not an agency's auditor's")
  t.equal((await get('/v1/audit/export', dpo)).statusCode, 403, "nor its DPO's")
  const res = await get('/v1/audit/export', supervisor)
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/x-ndjson/)
  const lines = res.body.trimEnd().split('\n')
  const r = await verifyExport(lines, jwks)
  t.ok(r.ok, JSON.stringify(r))
  t.equal(lines.filter((l) => l.startsWith('{"jws"')).length >= 2, true, 'interim and covering checkpoints')

  const part = await get('/v1/audit/export?from=2&to=5', supervisor)
  const partLines = part.body.trimEnd().split('\n')
  t.match(partLines[0], /"leix":"range"/, 'a partial export starts with its range proof')
  const rp = await verifyExport(partLines, jwks)
  t.ok(rp.ok && rp.first === 2 && rp.last === 4, JSON.stringify(rp))

  const since = new Date(clock.now().getTime() - 1000).toISOString()
  const byTime = await get(`/v1/audit/export?from=${encodeURIComponent(since)}`, supervisor)
  t.equal(byTime.statusCode, 200)
  t.ok((await verifyExport(byTime.body.trimEnd().split('\n'), jwks)).ok, 'a time range maps onto a verifiable seq range')

  t.equal((await get('/v1/audit/export', rs)).statusCode, 403, 'agencies cannot export the whole log')
  t.equal((await get('/v1/audit/export?from=nonsense', supervisor)).statusCode, 400)
  t.equal((await get('/v1/audit/export?from=100000', supervisor)).statusCode, 404)
  const exported = await rt.pool.query("SELECT event FROM audit_events WHERE type = 'audit.exported' ORDER BY recorded")
  t.ok(exported.rowCount! >= 3)
  t.match(exported.rows[1].event, { actor: { id: 'auditor-7' }, details: { start: 2, end: 5 } })
})

t.test('reading a message body requires a justification and records the consultation (A1)', async (t) => {
  const url = `/v1/messages/${first.messageId}`
  const missing = await get(url, rs)
  t.equal(missing.statusCode, 400)
  t.equal(missing.json().type, 'urn:leix:problem:justification-required')
  t.equal((await get(url, rs, { 'leix-justification': 'short' })).statusCode, 400, 'too short')
  t.equal((await get(`${url}?justification=${encodeURIComponent('A justification long enough for the rule')}`, rs)).statusCode, 400,
    'never in the query string, where access logs would keep it')
  t.equal((await get(url, rs, { 'leix-justification': 'x'.repeat(501) })).statusCode, 400, 'too long')

  const why = 'Verifying vehicle records for case CASE-2026-0815 before the joint operation'
  const res = await get(url, rs, { 'leix-justification': why, 'leix-justification-code': 'investigation', 'leix-case-reference': 'CASE-2026-0815' })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.equal(body.message.id, first.messageId)
  t.equal(body.message.body.text.length > 0, true, 'the body as sent')
  t.equal(body.jws.split('.').length, 3, "the sender's JWS, to verify its signature")
  const consulted = await rt.pool.query("SELECT event FROM audit_events WHERE type = 'message.consulted' AND message_id = $1", [first.messageId])
  t.equal(consulted.rowCount, 1)
  t.match(consulted.rows[0].event, {
    actor: { kind: 'person', agency: 'RS-MUP', id: 'rs-mup-officer-1' }, justification: { code: 'investigation', caseRef: 'CASE-2026-0815', id: String, hash: /^[\w-]{43}$/ }, recipients: ['RS-MUP'],
    at: clock.now().toISOString(), exchangeId: first.exchangeId, outcome: 'ok',
  })
  t.notMatch(JSON.stringify(consulted.rows[0].event), /SUBJ-7F3A|vehicle registration/, 'no body content in the log')
  t.notMatch(JSON.stringify(consulted.rows[0].event), /Verifying vehicle/, 'no free text of the justification in the log (A3)')
  const timeline = (await get(`/v1/exchanges/${first.exchangeId}`, al)).json().timeline as { event: string; actor: string }[]
  t.ok(timeline.some((e) => e.event === 'message.consulted' && e.actor === 'RS-MUP'), 'the sender sees in the timeline that the recipient read it')

  const encoded = await get(url, al, { 'leix-justification': encodeURIComponent('Провера возила за предмет 0815') })
  t.equal(encoded.statusCode, 200, 'the sender too; percent-encoded UTF-8 in the header')
  const ev = (await rt.pool.query("SELECT event FROM audit_events WHERE type = 'message.consulted' AND actor = 'al-asp-officer-1'")).rows[0].event
  t.match(ev.justification, { code: 'other' }, 'without a code header: other')
  const text = (await rt.pool.query('SELECT text FROM justifications WHERE id = $1', [ev.justification.id])).rows[0].text
  t.equal(text, 'Провера возила за предмет 0815', 'the text as written, in the erasable store')

  const stranger = await get(url, me, { 'leix-justification': why })
  t.equal(stranger.statusCode, 404, 'not a party')
  t.equal(await count(rt, "SELECT 1 FROM audit_events WHERE type = 'access.denied' AND message_id = $1 AND actor = 'me-up-officer-1'", [first.messageId]), 1)
  t.equal((await get(url, tokenFor(app, 'AL-ASP', ['auditor'], 'auditor-al'), { 'leix-justification': why })).statusCode, 404, 'auditors see the log, not bodies')
  t.equal((await get(`/v1/messages/${randomUUID()}`, rs, { 'leix-justification': why })).statusCode, 404)
})

t.test('retention erases payloads past erase-by and logs it without content (D7)', async (t) => {
  const eraseBy = new Date(clock.now().getTime() + 3600_000)
  await rt.pool.query('UPDATE messages SET erase_by = $2 WHERE id = $1', [first.messageId, eraseBy])
  await audit.runOnce()
  t.equal(await count(rt, 'SELECT 1 FROM messages WHERE erased_at IS NOT NULL'), 0, 'nothing before the date')
  clock.advance(3600_000)
  await audit.runOnce()
  const row = (await rt.pool.query('SELECT jws, erased_at FROM messages WHERE id = $1', [first.messageId])).rows[0]
  t.equal(row.jws, null)
  t.same(row.erased_at, clock.now())
  const erased = await rt.pool.query("SELECT event, seq FROM audit_events WHERE type = 'payload.erased'")
  t.equal(erased.rowCount, 1)
  t.match(erased.rows[0].event, { messageId: first.messageId, actor: { kind: 'broker' }, agencies: ['AL-ASP', 'RS-MUP'], reason: 'D7-erase-by' })
  t.notMatch(JSON.stringify(erased.rows[0].event), /SUBJ-7F3A|vehicle/)
  t.type(erased.rows[0].seq, 'number', 'sealed in the same round')
  const gone = await get(`/v1/messages/${first.messageId}`, rs, { 'leix-justification': 'Re-reading the request after the operation' })
  t.equal(gone.statusCode, 410)
  t.equal(gone.json().code, 'payload-erased')
  t.equal((await get(`/v1/exchanges/${first.exchangeId}`, al)).json().messages[0].erased, true)
})

t.test('D7 a message with only a review-by date is erased at the instrument cap; erasure clears the hold findings', async (t) => {
  // PCC-SEE's cap in the sample directory is five years, added by calendar arithmetic.
  const receivedAt = clock.now()
  const cases: Array<[retention: Record<string, string>, expected: (m: Date) => Date]> = [
    [{ reviewBy: new Date(receivedAt.getTime() + 86_400_000).toISOString() }, (at) => new Date(Date.UTC(at.getUTCFullYear() + 5, at.getUTCMonth(), at.getUTCDate(), at.getUTCHours(), at.getUTCMinutes(), at.getUTCSeconds(), at.getUTCMilliseconds()))],
    [{ eraseBy: new Date(receivedAt.getTime() + 2 * 86_400_000).toISOString() }, () => new Date(receivedAt.getTime() + 2 * 86_400_000)],
  ]
  for (const [retention, expected] of cases) {
    const m = requestMessage(clock, { from: 'ME-UP', to: 'MK-MVR' }, { retention, dataSubjects: [{ ref: 'SUBJ-R1', category: 'witness', protectionStatus: 'refugee' }] })
    const res = await submit(app, await sign(m))
    t.equal(res.statusCode, 202, res.body)
    t.equal(res.json().status, 'held', 'D4: unknown country of flight')
    const row = (await rt.pool.query('SELECT erase_by, received_at, holds FROM messages WHERE id = $1', [m.id])).rows[0]
    t.same(row.erase_by, expected(row.received_at), JSON.stringify(retention))
    t.ok(row.holds, 'hold findings kept while the message lives')
    const shown = (await get(`/v1/exchanges/${res.json().exchangeId}`, me)).json().messages[0]
    t.equal(shown.eraseBy, (row.erase_by as Date).toISOString(), 'shown to the sender with the message')
    await rt.pool.query('UPDATE messages SET erase_by = $2 WHERE id = $1', [m.id, clock.now()])
    await audit.runOnce()
    const after = (await rt.pool.query('SELECT jws, holds, erased_at FROM messages WHERE id = $1', [m.id])).rows[0]
    t.same([after.jws, after.holds], [null, null], 'payload and hold findings erased')
    t.ok(after.erased_at)
    const logged = (await rt.pool.query("SELECT event FROM audit_events WHERE type = 'payload.erased' AND message_id = $1", [m.id])).rows
    t.equal(logged.length, 1)
    t.notMatch(JSON.stringify(logged[0].event), /SUBJ-R1|refugee|country of flight/, 'the log copies no content')
  }
})

t.test('on its review-by date the sender is told once to review the message (D7)', async (t) => {
  const m = await sendRequest(a, 'ME-UP', 'MK-MVR')
  const reviewBy = new Date(clock.now().getTime() + 7200_000)
  await rt.pool.query('UPDATE messages SET review_by = $2 WHERE id = $1', [m.messageId, reviewBy])
  await audit.runOnce()
  t.equal(await count(rt, "SELECT 1 FROM audit_events WHERE type = 'retention.review-due' AND message_id = $1", [m.messageId]), 0, 'nothing before the date')
  clock.advance(7200_000)
  await audit.runOnce()
  await audit.runOnce()
  const events = await rt.pool.query("SELECT event FROM audit_events WHERE type = 'retention.review-due' AND message_id = $1", [m.messageId])
  t.equal(events.rowCount, 1, 'once')
  t.match(events.rows[0].event, { reason: 'D7-review-by', agencies: ['ME-UP', 'MK-MVR'], details: { reviewBy: reviewBy.toISOString() } })
  t.equal(await count(rt, "SELECT 1 FROM notifications WHERE type = 'retention.review-due' AND agency = 'ME-UP' AND message_id = $1", [m.messageId]), 1,
    'the sender gets a notification (GET /v1/notifications)')
  t.equal(await count(rt, "SELECT 1 FROM notifications WHERE type = 'retention.review-due' AND agency = 'MK-MVR'"), 0, 'the recipient is not asked: the sender fixed the date')
  t.equal(await count(rt, 'SELECT 1 FROM messages WHERE id = $1 AND jws IS NOT NULL', [m.messageId]), 1, 'a review is not an erasure')
})

t.test('sealed audit rows are append-only in the database too, even for the owner of the tables', async (t) => {
  // The app role is refused by its grants (test/store/privileges.test.ts); the owner holds every
  // privilege on its tables, and the triggers still refuse.
  const owner = new pg.Client({ connectionString: databaseUrlAs(a.databaseUrl, 'owner') })
  await owner.connect()
  t.teardown(() => owner.end())
  await t.rejects(owner.query("UPDATE audit_events SET event = '{}' WHERE seq = 0"), /append-only/)
  await t.rejects(owner.query('DELETE FROM audit_events WHERE seq = 1'), /append-only/)
  await t.rejects(owner.query('DELETE FROM audit_checkpoints'), /append-only/)
  await t.rejects(owner.query('UPDATE audit_nodes SET hash = hash'), /append-only/)
})
