// A3: the sealed log holds a justification code, a case reference and HMAC-SHA-256(salt, text);
// the text lives in an erasable table under retention; an auditor proves what was written while
// it exists; erasure is logged and leaves nothing to test guesses against.
import t from 'tap'
import { createHmac } from 'node:crypto'
import { JUSTIFICATION_CODES } from '../../src/audit/justification.ts'
import { count, tokenFor } from '../helpers.ts'
import { auditTestApp, sendRequest } from './fixtures.ts'

const a = await auditTestApp(t, { config: { justificationRetentionDays: 30 } })
const { app, rt, audit, clock } = a
const rs = tokenFor(app, 'RS-MUP')
// An auditor of an agency the consultation names (justifications are agency-scoped like every other read).
const auditor = tokenFor(app, 'AL-ASP', ['auditor'], 'auditor-7')
const first = await sendRequest(a, 'AL-ASP', 'RS-MUP')
const read = (headers: Record<string, string>, token = rs) =>
  app.inject({ method: 'GET', url: `/v1/messages/${first.messageId}`, headers: { authorization: `Bearer ${token}`, ...headers } })
const text = 'Checking on Ivan Petrov, born 1980-01-01, before the joint operation'

t.test('the sealed event holds the code, the case reference and a salted hash; never the text', async (t) => {
  for (const code of JUSTIFICATION_CODES) {
    const res = await read({ 'leix-justification': text, 'leix-justification-code': code, 'leix-case-reference': 'OP-2026/44' })
    t.equal(res.statusCode, 200, code)
  }
  for (const [headers, why] of [
    [{ 'leix-justification-code': 'curiosity' }, 'a code off the list'],
    [{ 'leix-justification-code': 'investigation', 'leix-case-reference': 'Ivan Petrov 1980' }, 'a case reference that is text'],
  ] as const) {
    const res = await read({ 'leix-justification': text, ...headers })
    t.equal(res.statusCode, 400, why)
    t.equal(res.json().code, 'bad-request')
  }
  await audit.runOnce()
  const { rows } = await rt.pool.query<{ line: string }>("SELECT line FROM audit_events WHERE type = 'message.consulted' AND seq IS NOT NULL")
  t.equal(rows.length, JUSTIFICATION_CODES.length)
  for (const { line } of rows) {
    t.notMatch(line, /Ivan|Petrov|1980/, 'no free text in the sealed line')
    const j = JSON.parse(line).justification
    t.match(j, { code: String, caseRef: 'OP-2026/44', id: String, hash: /^[\w-]{43}$/ })
    const stored = (await rt.pool.query<{ text: string; salt: Buffer; hash: string }>('SELECT text, salt, hash FROM justifications WHERE id = $1', [j.id])).rows[0]!
    t.equal(stored.text, text)
    t.equal(createHmac('sha256', stored.salt).update(text).digest('base64url'), j.hash, 'HMAC-SHA-256(salt, text) is the sealed hash')
  }
  const hashes = new Set(rows.map((r) => JSON.parse(r.line).justification.hash))
  t.equal(hashes.size, rows.length, 'a fresh salt per text: the same text never hashes alike twice')
  // A denied attempt keeps the same rule.
  const denied = await read({ 'leix-justification': text }, tokenFor(app, 'ME-UP'))
  t.equal(denied.statusCode, 404)
  const ev = (await rt.pool.query("SELECT event FROM audit_events WHERE type = 'access.denied' AND actor = 'me-up-officer-1'")).rows[0].event
  t.match(ev.justification, { code: 'other', hash: String })
  t.notMatch(JSON.stringify(ev), /Ivan/)
})

t.test('an auditor proves what was written, while the text exists; then it is erased and the erasure logged', async (t) => {
  const line = (await rt.pool.query<{ line: string; seq: number }>("SELECT line, seq FROM audit_events WHERE type = 'message.consulted' AND seq IS NOT NULL ORDER BY seq LIMIT 1")).rows[0]!
  const j = JSON.parse(line.line).justification
  const url = `/v1/audit/justifications/${j.id}`
  t.equal((await app.inject({ url, headers: { authorization: `Bearer ${rs}` } })).statusCode, 403, 'auditors and DPOs only')
  const proof = (await app.inject({ url, headers: { authorization: `Bearer ${auditor}` } })).json()
  t.match(proof, { id: j.id, text, hash: j.hash, recomputed: j.hash, textMatches: true, erasedAt: null })
  t.same(proof.events, [{ seq: line.seq, type: 'message.consulted', hashMatches: true }])
  t.equal(createHmac('sha256', Buffer.from(proof.salt, 'base64url')).update(proof.text).digest('base64url'), j.hash, 'the auditor recomputes it alone')
  t.equal(await count(rt, "SELECT 1 FROM audit_events WHERE type = 'audit.queried' AND event -> 'details' ->> 'justificationId' = $1", [j.id]), 1, 'reading it is logged')

  // An edited text no longer matches what the log sealed.
  await rt.pool.query("UPDATE justifications SET text = 'Routine check' WHERE id = $1", [j.id])
  t.match((await app.inject({ url, headers: { authorization: `Bearer ${auditor}` } })).json(), { textMatches: false })
  await rt.pool.query('UPDATE justifications SET text = $2 WHERE id = $1', [j.id, text])

  await audit.runOnce()
  t.equal(await count(rt, 'SELECT 1 FROM justifications WHERE erased_at IS NOT NULL'), 0, 'kept within the retention period')
  clock.advance(31 * 86400_000)
  await audit.runOnce()
  t.equal(await count(rt, 'SELECT 1 FROM justifications WHERE erased_at IS NULL'), 0, 'erased past it')
  t.equal(await count(rt, 'SELECT 1 FROM justifications WHERE text IS NOT NULL OR salt IS NOT NULL'), 0, 'text and salt gone')
  const erased = await rt.pool.query<{ event: Record<string, any> }>("SELECT event FROM audit_events WHERE type = 'justification.erased'")
  t.ok(erased.rowCount! >= JUSTIFICATION_CODES.length, 'each erasure is logged')
  t.notMatch(JSON.stringify(erased.rows), /Ivan/)
  const after = (await app.inject({ url, headers: { authorization: `Bearer ${auditor}` } })).json()
  t.match(after, { text: null, salt: null, recomputed: null, textMatches: null, erasedAt: String, hash: j.hash })
})
