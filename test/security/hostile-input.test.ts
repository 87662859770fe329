// No input reaches PostgreSQL unvalidated and no input gives a 5xx: hostile values are derived
// for EVERY parameter (path, query, header, JSON body property) of EVERY route of the served
// OpenAPI document, each sent with every other parameter valid, by a caller allowed to use the
// route. Values that are malformed must be refused with 4xx problem+json; odd but well-formed ones
// may be accepted, never answered with 5xx. Then the framework's own errors: every one a problem.
import t from 'tap'
import { connect } from 'node:net'
import type { InjectOptions } from 'fastify'
import { requestMessage, sign, submit } from '../helpers.ts'
import { SUPERVISOR, startGateway } from './full-app.ts'

interface Parameter { name: string; in: 'path' | 'query' | 'header'; required?: boolean; schema: Schema }
interface Schema { type?: string | string[]; format?: string; enum?: unknown[]; maxLength?: number; properties?: Record<string, Schema>; required?: string[] }
interface Operation { parameters?: Parameter[]; requestBody?: { content: Record<string, { schema: Schema }> } }

const HUGE = ['1e400', '99999999999999999999', '-1e400', '9007199254740993', 'Infinity', 'NaN', '0x1F', '1.5', '-1', '', ' ', '1,2']
const uuid = '00000000-0000-4000-8000-000000000000'
const cursor = (s: string) => Buffer.from(s).toString('base64url')
const CONTROL = ['\u0000', 'a\u0000b', 'x\u0001y', 'line\nbreak', 'tab\there', '\u007f']
const DATES = ['0000-01-01T00:00:00Z', '+275760-09-13T00:00:00.000Z', '-000001-01-01T00:00:00Z', '2026-02-31T00:00:00Z', '2026-13-01T00:00:00Z',
  '1969-12-31T23:59:59Z', '10000-01-01T00:00:00Z', '2026-01-01', 'yesterday']
const CURSORS = [cursor(`1|${uuid}`), cursor(`0000-01-01T00:00:00.000Z|${uuid}`), cursor(`+275760-09-13T00:00:00.000Z|${uuid}`),
  cursor('2026-01-01T00:00:00.000Z|not-a-uuid'), cursor('s99999999999999999999'), cursor('s-1'), cursor('\u0000'), 'not base64!', '%00']

/** Values that must be refused for a parameter of this schema. */
function mustRefuse (s: Schema, name: string): unknown[] {
  const type = Array.isArray(s.type) ? s.type.find((x) => x !== 'null') : s.type
  if (type === 'integer' || type === 'number') return HUGE.filter((v) => !(v === '-1' && false))
  if (type === 'boolean') return ['maybe', '2', 'null', '\u0000']
  const values: unknown[] = [...CONTROL, 'x'.repeat(Math.max((s.maxLength ?? 6000) + 1, 6001))]
  if (s.format === 'date-time') values.push(...DATES)
  if (s.format === 'uuid') values.push('not-a-uuid', `${uuid}x`, uuid.replace(/0/g, 'g'))
  if (s.enum) values.push('not-in-the-enum')
  if (name === 'cursor') values.push(...CURSORS)
  return values
}

/** Well-formed but odd values: may be accepted, never a 5xx. */
const ODD = ["' OR 1=1 --", '../../etc/passwd', '{"$ne":null}', '\u00e9\u4e2d\ud83d\ude00', '%', '%25', '__proto__', 'constructor']

t.test('hostile values for every parameter of every route: 4xx problem+json, never 5xx', async (t) => {
  const g = await startGateway(t, { rateLimitPerMinute: 1_000_000 })
  const own = await g.send('AL-ASP', 'RS-MUP')
  const toOwn = await g.send('RS-MUP', 'AL-ASP')
  const held = await g.send('AL-ASP', 'ME-UP', { dataSubjects: [{ ref: 'SUBJ-M1', category: 'victim', minor: true }] })
  await g.sealed()
  const { rows } = await g.rt.pool.query<{ seq: string }>('SELECT max(seq) AS seq FROM audit_events')
  const seq = Number(rows[0]?.seq)
  const treeSize = (await g.get('/v1/audit/checkpoints/latest', g.token('AL-ASP', ['officer']))).json().treeSize as number
  // Every role at once, so that each route gets past authorisation to its input handling.
  const everything = g.token(SUPERVISOR.agency, ['supervisor', 'system', 'officer', 'dpo', 'auditor', 'admin'], SUPERVISOR.sub)
  const ownAgency = g.token('AL-ASP', ['system', 'officer', 'dpo', 'auditor', 'admin'])

  // Valid values for each parameter name, so that only the hostile one is wrong.
  const valid: Record<string, string> = {
    id: own.messageId, messageId: toOwn.messageId, seq: String(seq), treeSize: String(treeSize), from: '1', to: String(treeSize),
    'leix-justification': 'Hostile input walk of the security review',
  }
  const validFor = (route: string, name: string): string | undefined => {
    if (route.startsWith('GET /v1/exchanges/')) return name === 'id' ? own.exchangeId : undefined
    if (route === 'POST /v1/messages/{id}/review' && name === 'id') return held.messageId
    if (route === 'GET /v1/audit/export') return undefined
    if (route === 'GET /v1/audit/proofs/consistency' && name === 'from') return String(treeSize)
    return valid[name]
  }
  const bodies: Record<string, Record<string, unknown>> = {
    'POST /v1/messages/{id}/review': { decision: 'reject', justification: 'hostile input walk' },
    'POST /v1/messages/{id}/redeliver': { justification: 'hostile input walk' },
  }

  const docs = (await g.get('/docs/json')).json() as { paths: Record<string, Record<string, Operation>> }
  let probes = 0
  for (const [path, ops] of Object.entries(docs.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const route = `${method.toUpperCase()} ${path}`
      if (route === 'POST /v1/messages') continue // a JWS body: below, and test/intake
      const params = op.parameters ?? []
      const jsonBody = op.requestBody?.content['application/json']?.schema
      const bodyParams: Parameter[] = Object.entries(jsonBody?.properties ?? {}).map(([name, schema]) => ({ name, in: 'header', schema, body: true } as Parameter & { body: true }))
      const build = (target: Parameter & { body?: true }, value: unknown): InjectOptions => {
        let url = path
        const query = new URLSearchParams()
        const headers: Record<string, string> = { authorization: `Bearer ${route.startsWith('POST /v1/inbox') ? ownAgency : everything}` }
        for (const p of params) {
          const v = p === target ? value : validFor(route, p.name)
          if (v === undefined) continue
          if (p.in === 'path') url = url.replace(`{${p.name}}`, encodeURIComponent(String(v)))
          else if (p.in === 'query') query.set(p.name, String(v))
          else if (p.in === 'header') headers[p.name] = encodeURIComponent(String(v))
        }
        const body = bodies[route] ? { ...bodies[route], ...(target.body ? { [target.name]: value } : {}) } : undefined
        const qs = query.toString()
        return { method: method.toUpperCase() as 'GET', url: `${url}${qs ? `?${qs}` : ''}`, headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { payload: JSON.stringify(body) } : {}) }
      }
      for (const p of [...params, ...bodyParams] as (Parameter & { body?: true })[]) {
        for (const value of mustRefuse(p.schema, p.name)) {
          const res = await g.inject(build(p, value))
          probes++
          const what = `${route} ${p.body ? 'body' : p.in} ${p.name}=${JSON.stringify(value).slice(0, 60)}`
          if (!(res.statusCode >= 400 && res.statusCode < 500)) t.fail(`${what}: refused with 4xx, got ${res.statusCode} ${res.body.slice(0, 200)}`)
          else if (!/^application\/problem\+json/.test(String(res.headers['content-type']))) t.fail(`${what}: problem+json, got ${res.headers['content-type']}`)
        }
        for (const value of ODD) {
          const res = await g.inject(build(p, value))
          probes++
          if (res.statusCode >= 500) t.fail(`${route} ${p.name}=${JSON.stringify(value)}: no 5xx, got ${res.statusCode} ${res.body.slice(0, 200)}`)
          else if (res.statusCode >= 400 && !/^application\/problem\+json/.test(String(res.headers['content-type']))) t.fail(`${route} ${p.name}: problem+json`)
        }
      }
    }
  }
  t.ok(probes > 500, `${probes} hostile requests, none answered 5xx or without a problem`)
  t.equal(Number((await g.rt.pool.query<{ n: string }>("SELECT count(*) AS n FROM messages WHERE status = 'rejected'")).rows[0]?.n), 0,
    'the walk decided nothing: every hostile review was refused')

  // The message itself: control characters in its fields are a 422 and a recorded rejection.
  for (const [field, patch] of [['caseRef', { caseRef: 'CASE\u00001' }], ['officer', { from: { agency: 'AL-ASP', officer: 'o\u0000' } }], ['body text', { body: { text: 'x\u0000y' } }]] as const) {
    const m = requestMessage(g.clock, { from: 'AL-ASP', to: 'RS-MUP' }, patch)
    const res = await submit(g.app, await sign(m))
    t.equal(res.statusCode, 422, `${field} with NUL: ${res.body.slice(0, 200)}`)
    t.equal(res.json().code, 'schema-violation')
    const { rows: rejected } = await g.rt.pool.query("SELECT 1 FROM audit_events WHERE type = 'message.rejected' AND message_id = $1", [m.id])
    t.equal(rejected.length, 1, `${field}: the rejection is recorded (A2)`)
  }
})

/** Sends raw bytes to the gateway and returns the raw answer. */
function raw (port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    socket.on('data', (d) => { answer += d.toString('latin1') })
    socket.on('end', () => resolve(answer))
    socket.on('close', () => resolve(answer))
    socket.on('error', reject)
    socket.write(bytes) // not end(): a half-closed socket may lose its answer; Connection: close ends it
  })
}

t.test("the framework's own errors are problem+json too", async (t) => {
  const g = await startGateway(t)
  const port = (g.app.server.address() as { port: number }).port
  const officer = g.token('AL-ASP', ['dpo'])
  const cases: [string, string | Buffer, number][] = [
    ['bad percent-encoding in the path', `GET /v1/exchanges/%E0%A4%A HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${officer}\r\nConnection: close\r\n\r\n`, 400],
    ['bad percent-encoding in the query', `GET /v1/exchanges?status=%E0%A4%A HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${officer}\r\nConnection: close\r\n\r\n`, 400],
    ['a 9 kB URL', `GET /v1/agencies?${'a'.repeat(9000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 414],
    ['headers over 16 kB', `GET /v1/agencies HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\nConnection: close\r\n\r\n`, 431],
    ['a URL over 16 kB', `GET /v1/agencies?${'a'.repeat(20000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 431],
    ['a malformed header line', 'GET /v1/agencies HTTP/1.1\r\nHost: x\r\nNot a header\r\nConnection: close\r\n\r\n', 400],
    ['a control character in a header', 'GET /v1/agencies HTTP/1.1\r\nHost: x\r\nX-Thing: a\u0001b\r\nConnection: close\r\n\r\n', 400],
    ['a NUL in the URL', 'GET /v1/agencies?x=%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 400],
    ['no such route', 'GET /v1/nothing-here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 404],
    ['no such method', 'DELETE /v1/agencies HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 404],
    ['not HTTP at all', 'HELLO\r\n\r\n', 400],
    ['a wrong content type', `POST /v1/messages/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}/review HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${officer}\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`, 415],
    ['invalid JSON', `POST /v1/messages/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}/review HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${officer}\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{"a":`, 400],
    ['a body over the limit', `POST /v1/messages/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}/review HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${officer}\r\nContent-Type: application/json\r\nContent-Length: 300000\r\nConnection: close\r\n\r\n{"justification":"${'a'.repeat(299970)}"}`, 413],
  ]
  for (const [name, request, status] of cases) {
    const answer = await raw(port, request)
    const head = answer.slice(0, answer.indexOf('\r\n\r\n'))
    t.match(head, new RegExp(`^HTTP/1\\.1 ${status} `), `${name}: ${status} (${head.split('\r\n')[0]})`)
    t.match(head, /content-type: application\/problem\+json/i, `${name}: problem+json`)
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4).replace(/^[0-9a-f]+\r\n/, '').replace(/\r\n0\r\n\r\n$/, '')) as { type: string; status: number }
    t.equal(body.status, status, `${name}: the body says ${status}`)
    t.match(body.type, /^urn:leix:problem:/)
  }
})

t.test("a client's x-request-id is used only when short and well-formed", async (t) => {
  const g = await startGateway(t)
  const ok = await g.get('/v1/agencies', undefined, { 'x-request-id': 'client-42.a_b:c' })
  t.equal(ok.headers['x-request-id'], 'client-42.a_b:c')
  for (const hostile of ['x'.repeat(65), 'a b', '<script>', 'a\u00e9', 'id;rm -rf']) {
    const res = await g.get('/v1/agencies', undefined, { 'x-request-id': hostile })
    t.not(res.headers['x-request-id'], hostile, `not echoed: ${hostile.slice(0, 20)}`)
    t.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'leix made its own')
  }
})
