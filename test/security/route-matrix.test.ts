// The route x role x own/other-agency matrix of README.md ("Route matrix"), checked against every
// route of the served OpenAPI document: a route the matrix does not list, or this test has no
// request for, fails. Own = a resource that names the caller's agency (AL-ASP); other = one of
// another pair (ME-UP -> MK-MVR). Refused = 401, 403 or 404 (or, for a list, the other agency's
// resource absent from the answer); allowed = anything else.
import t from 'tap'
import { readFileSync } from 'node:fs'
import type { InjectOptions } from 'fastify'
import { requestMessage, sign, submit } from '../helpers.ts'
import { SUPERVISOR, startGateway } from './full-app.ts'

const ROLES = ['anonymous', 'system', 'officer', 'dpo', 'auditor', 'admin', 'supervisor'] as const
type Role = (typeof ROLES)[number]
type Cell = 'public' | 'signed' | 'any' | 'own' | '—'

/** The matrix as README.md states it. */
function readMatrix (): Map<string, Record<Role, Cell>> {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const start = readme.indexOf('### Route matrix')
  const section = readme.slice(start, readme.indexOf('\n#', start + 1))
  const rows = section.split('\n').filter((l) => l.startsWith('| `'))
  const header = section.split('\n').find((l) => l.startsWith('| route |'))
  if (!header) throw new Error('README.md has no route matrix')
  const columns = header.split('|').slice(2, -1).map((c) => c.trim())
  if (columns.join() !== ROLES.join()) throw new Error(`matrix columns ${columns.join()} are not ${ROLES.join()}`)
  const matrix = new Map<string, Record<Role, Cell>>()
  for (const row of rows) {
    const cells = row.split('|').slice(1, -1).map((c) => c.trim())
    const route = (cells[0] as string).replace(/`/g, '')
    matrix.set(route, Object.fromEntries(ROLES.map((r, i) => [r, cells[i + 1] as Cell])) as Record<Role, Cell>)
  }
  return matrix
}

t.test('the route matrix of README.md holds for every served route', async (t) => {
  const g = await startGateway(t)
  const { clock } = g
  const minor = { dataSubjects: [{ ref: 'SUBJ-M1', category: 'victim', minor: true }] }

  // Own: AL-ASP's exchange with RS-MUP, a message to AL-ASP, a held message AL-ASP sent.
  const ownExchange = await g.send('AL-ASP', 'RS-MUP')
  const toOwn = await g.send('RS-MUP', 'AL-ASP')
  const ownHeld = await g.send('AL-ASP', 'ME-UP', minor)
  // Other: the same for a pair AL-ASP is not part of.
  const otherExchange = await g.send('ME-UP', 'MK-MVR')
  const toOther = await g.send('ME-UP', 'MK-MVR')
  const otherHeld = await g.send('ME-UP', 'MK-MVR', minor)
  t.equal(ownHeld.status, 'held')
  t.equal(otherHeld.status, 'held')
  await g.sealed()
  const seqOf = async (exchangeId: string): Promise<number> => {
    const { rows } = await g.rt.pool.query<{ seq: number }>('SELECT seq FROM audit_events WHERE exchange_id = $1 AND type = \'exchange.opened\'', [exchangeId])
    return Number(rows[0]?.seq)
  }
  const ownSeq = await seqOf(ownExchange.exchangeId)
  const otherSeq = await seqOf(otherExchange.exchangeId)
  const treeSize = (await g.get('/v1/audit/checkpoints/latest', g.token('AL-ASP', ['officer']))).json().treeSize as number
  const firstSize = Number((await g.rt.pool.query<{ n: string }>('SELECT min(tree_size) AS n FROM audit_checkpoints')).rows[0]?.n)

  // Consultations by each side, for their justifications (the text is its agencies' auditors').
  const consulted = async (agency: string, messageId: string): Promise<string> => {
    await g.inject({ method: 'GET', url: `/v1/messages/${messageId}`, headers: { authorization: `Bearer ${g.token(agency, ['officer'])}`, 'leix-justification': 'Consulted for the route matrix walk' } })
    const { rows } = await g.rt.pool.query<{ id: string }>(
      "SELECT event -> 'justification' ->> 'id' AS id FROM audit_events WHERE type = 'message.consulted' AND message_id = $1 ORDER BY recorded DESC LIMIT 1", [messageId])
    return String(rows[0]?.id)
  }
  const ownJustification = await consulted('AL-ASP', ownExchange.messageId)
  const otherJustification = await consulted('ME-UP', otherExchange.messageId)
  const text = { 'content-type': 'text/plain' }

  interface RouteCase {
    own: InjectOptions
    /** A request for another agency's resource (absent: the route has no agency-specific resource). */
    other?: InjectOptions
    /** For lists: ids of the other agency's resources that a refused caller must not see in the answer to `other`. */
    otherIds?: string[]
    /**
     * For lists that may rightly name the other resource: whether the answer to `other` shows it
     * (absent: any mention of `otherIds` counts).
     */
    otherShown?: (body: string) => boolean
  }

  const justified = { 'leix-justification': 'Checking the route matrix of the security review' }
  const json = { 'content-type': 'application/json' }
  const reportFrom = new Date(clock.now().getTime() - 30 * 86_400_000).toISOString().slice(0, 10)
  const reportTo = new Date(clock.now().getTime() + 2 * 86_400_000).toISOString().slice(0, 10)
  const cases: Record<string, RouteCase> = {
    'GET /v1/exchanges': { own: { url: '/v1/exchanges' }, other: { url: '/v1/exchanges?agency=ME-UP' }, otherIds: [otherExchange.exchangeId] },
    'GET /v1/reports/exchanges': {
      own: { url: `/v1/reports/exchanges?from=${reportFrom}&to=${reportTo}` },
      other: { url: `/v1/reports/exchanges?from=${reportFrom}&to=${reportTo}&agency=ME-UP` },
      // The supervisor's report on ME-UP counts ME-UP's pairs; an agency role is refused it (403).
      otherShown: (body) => body.includes('"from":"ME-UP"'),
    },
    'GET /v1/exchanges/{id}': { own: { url: `/v1/exchanges/${ownExchange.exchangeId}` }, other: { url: `/v1/exchanges/${otherExchange.exchangeId}` } },
    'GET /v1/messages/{id}': {
      own: { url: `/v1/messages/${ownExchange.messageId}`, headers: justified },
      other: { url: `/v1/messages/${otherExchange.messageId}`, headers: justified },
    },
    'GET /v1/inbox': { own: { url: '/v1/inbox' }, other: { url: '/v1/inbox' }, otherIds: [toOther.messageId] },
    'POST /v1/inbox/{messageId}/ack': { own: { method: 'POST', url: `/v1/inbox/${toOwn.messageId}/ack` }, other: { method: 'POST', url: `/v1/inbox/${toOther.messageId}/ack` } },
    'GET /v1/notifications': { own: { url: '/v1/notifications' } },
    'POST /v1/admin/directory/reload': { own: { method: 'POST', url: '/v1/admin/directory/reload' } },
    'GET /v1/messages/{id}/derived': { own: { url: `/v1/messages/${ownExchange.messageId}/derived` }, other: { url: `/v1/messages/${otherExchange.messageId}/derived` } },
    'POST /v1/messages/{id}/redeliver': {
      own: { method: 'POST', url: `/v1/messages/${ownExchange.messageId}/redeliver`, headers: json, payload: {} },
      other: { method: 'POST', url: `/v1/messages/${otherExchange.messageId}/redeliver`, headers: json, payload: {} },
    },
    'GET /v1/review/held': { own: { url: '/v1/review/held' }, other: { url: '/v1/review/held' }, otherIds: [otherHeld.messageId] },
    'POST /v1/messages/{id}/review': {
    // The DPO's call releases the held message; other roles are refused before anything happens.
      own: { method: 'POST', url: `/v1/messages/${ownHeld.messageId}/review`, headers: json, payload: { decision: 'release', justification: 'matrix walk' } },
      other: { method: 'POST', url: `/v1/messages/${otherHeld.messageId}/review`, headers: json, payload: { decision: 'reject', justification: 'matrix walk' } },
    },
    'GET /v1/audit/checkpoints/latest': { own: { url: '/v1/audit/checkpoints/latest' } },
    'GET /v1/audit/checkpoints/{treeSize}': { own: { url: `/v1/audit/checkpoints/${treeSize}` } },
    'GET /v1/audit/proofs/consistency': { own: { url: `/v1/audit/proofs/consistency?from=${firstSize}&to=${treeSize}` } },
    'GET /v1/audit/events/{seq}': { own: { url: `/v1/audit/events/${ownSeq}` }, other: { url: `/v1/audit/events/${otherSeq}` } },
    'GET /v1/audit/proofs/inclusion': { own: { url: `/v1/audit/proofs/inclusion?seq=${ownSeq}&treeSize=${treeSize}` }, other: { url: `/v1/audit/proofs/inclusion?seq=${otherSeq}&treeSize=${treeSize}` } },
    'GET /v1/audit/events': {
      own: { url: `/v1/audit/events?exchange=${ownExchange.exchangeId}` },
      other: { url: `/v1/audit/events?exchange=${otherExchange.exchangeId}` }, otherIds: [otherExchange.exchangeId],
      // The caller's own agency's searches for that exchange and refusals on it (made earlier in this
      // walk) list the caller's agency and may be sealed by now: those are its own events, not the
      // other exchange's. Anything else about the exchange is the other agency's.
      otherShown: (body) => (JSON.parse(body) as { items?: { type?: string }[] }).items?.some((e) =>
        !['audit.queried', 'access.denied'].includes(String(e.type)) && JSON.stringify(e).includes(otherExchange.exchangeId)) ?? false,
    },
    'GET /v1/audit/export': { own: { url: `/v1/audit/export?from=0&to=${treeSize}` } },
    'POST /v1/exchanges/{id}/close': {
      own: { method: 'POST', url: `/v1/exchanges/${ownExchange.exchangeId}/close` },
      other: { method: 'POST', url: `/v1/exchanges/${otherExchange.exchangeId}/close` },
    },
    'GET /v1/exchanges/{id}/evidence': { own: { url: `/v1/exchanges/${ownExchange.exchangeId}/evidence` }, other: { url: `/v1/exchanges/${otherExchange.exchangeId}/evidence` } },
    'GET /v1/audit/justifications/{id}': { own: { url: `/v1/audit/justifications/${ownJustification}` }, other: { url: `/v1/audit/justifications/${otherJustification}` } },
    'GET /v1/audit/checkpoints/witnessed': { own: { url: '/v1/audit/checkpoints/witnessed?witnesses=0' } },
    'GET /v1/witness/add-checkpoint': { own: { url: '/v1/witness/add-checkpoint?old=0' } },
    'POST /v1/witness/cosignatures': { own: { method: 'POST', url: '/v1/witness/cosignatures', headers: text, payload: 'not a note' } },
    'POST /v1/witness/alarms': { own: { method: 'POST', url: '/v1/witness/alarms', headers: text, payload: 'not a note' } },
    'GET /v1/witness/alarms': { own: { url: '/v1/witness/alarms' } },
    'GET /v1/witness/checkpoint': { own: { url: '/v1/witness/checkpoint?witnesses=0' } },
    'GET /v1/witness/log-key': { own: { url: '/v1/witness/log-key' } },
    'GET /v1/agencies': { own: { url: '/v1/agencies' } },
    'GET /.well-known/jwks.json': { own: { url: '/.well-known/jwks.json' } },
    'GET /health/live': { own: { url: '/health/live' } },
    'GET /health/ready': { own: { url: '/health/ready' } },
    'POST /v1/messages': { own: { method: 'POST', url: '/v1/messages' } },
  }

  const tokenOf = (role: Role): string | undefined => {
    if (role === 'anonymous') return undefined
    if (role === 'supervisor') return g.token(SUPERVISOR.agency === 'AL-ASP' ? 'AL-ASP' : SUPERVISOR.agency, ['supervisor'], SUPERVISOR.sub)
    return g.token('AL-ASP', [role])
  }
  const refused = (status: number) => status === 401 || status === 403 || status === 404

  const docs = (await g.get('/docs/json')).json() as { paths: Record<string, Record<string, unknown>> }
  const matrix = readMatrix()
  const served = Object.entries(docs.paths).flatMap(([path, ops]) =>
    Object.keys(ops).filter((m) => ['get', 'post', 'put', 'patch', 'delete'].includes(m)).map((m) => `${m.toUpperCase()} ${path}`))
  t.ok(served.length >= 20, `the OpenAPI document lists ${served.length} routes`)
  for (const route of matrix.keys()) t.ok(served.includes(route), `README lists ${route}, which is served`)

  for (const route of served) {
    t.test(route, async (t) => {
      const row = matrix.get(route)
      const c = cases[route]
      if (!row) return t.fail(`${route} is not in README.md's route matrix`)
      if (!c) return t.fail(`${route} has no request in this test`)
      for (const role of ROLES) {
        const cell = row[role]
        // The supervisor of this test belongs to EU-EUROPOL: "own" for it is the AL-ASP fixture seen across agencies.
        const bearer = tokenOf(role)
        const send = (o: InjectOptions) => g.inject({ method: 'GET', ...o, headers: { ...(o.headers as Record<string, string>), ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) } })
        if (cell === 'signed') {
          const own = await submit(g.app, await sign(requestMessage(clock, { from: 'AL-ASP', to: 'RS-MUP' })))
          t.equal(own.statusCode, 202, `${role}: a message signed by the sending agency's key is taken`)
          const forged = await submit(g.app, await sign(requestMessage(clock, { from: 'ME-UP', to: 'RS-MUP' }), { as: 'AL-ASP' }))
          t.equal(forged.statusCode, 422, `${role}: a message for another agency signed with this agency's key is refused (S1)`)
          continue
        }
        const own = await send(c.own)
        const ownOk = !refused(own.statusCode)
        if (own.statusCode >= 400) t.match(own.headers['content-type'], /^application\/problem\+json/, `${role}: errors are problems`)
        if (cell === '—') {
          t.ok(refused(own.statusCode), `${role}: refused (${own.statusCode})`)
          continue
        }
        // The supervisor's "own" resource belongs to AL-ASP, not its own agency: allowed only because it supervises.
        t.ok(ownOk, `${role}: allowed on its own agency's resource (${own.statusCode} ${own.statusCode >= 400 ? own.body.slice(0, 200) : ''})`)
        if (!c.other || cell === 'public') continue
        const other = await send(c.other)
        const otherIdsShown = c.otherShown && other.statusCode < 300 ? c.otherShown(other.body) : (c.otherIds ?? []).some((id) => other.body.includes(id))
        const otherRefused = refused(other.statusCode) || (c.otherIds !== undefined && !otherIdsShown)
        if (cell === 'own') t.ok(otherRefused, `${role}: refused on another agency's resource (${other.statusCode})`)
        else t.ok(!otherRefused, `${role}: allowed on another agency's resource (${other.statusCode})`)
      }
    })
  }

  t.test('every supervisor request is an audit event; a supervisor token for a principal not configured is refused', async (t) => {
    const { pool } = g.rt
    const before = (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_events WHERE type = 'supervisor.read'")).rows[0]?.n ?? 0
    const sup = g.token(SUPERVISOR.agency, ['supervisor'], SUPERVISOR.sub)
    t.equal((await g.get(`/v1/exchanges/${otherExchange.exchangeId}`, sup)).statusCode, 200)
    const after = (await pool.query<{ n: number; route: string }>("SELECT count(*)::int AS n FROM audit_events WHERE type = 'supervisor.read'")).rows[0]?.n ?? 0
    t.equal(after, before + 1, 'the read is recorded')
    const notListed = g.token(SUPERVISOR.agency, ['supervisor'], 'someone-else')
    t.equal((await g.get(`/v1/exchanges/${otherExchange.exchangeId}`, notListed)).statusCode, 401)
    const otherAgency = g.token('ME-UP', ['supervisor'], SUPERVISOR.sub)
    t.equal((await g.get(`/v1/exchanges/${otherExchange.exchangeId}`, otherAgency)).statusCode, 401, 'the subject is granted for its agency only')
    const body = await g.get('/v1/inbox', sup)
    t.equal(body.statusCode, 403, 'no message bodies through the inbox')
  })
})
