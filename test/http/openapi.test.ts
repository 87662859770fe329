// The served OpenAPI document is a contract clients build on: two independent validators accept it,
// it says what each operation takes and answers, and a generator turns it into TypeScript types.
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import SwaggerParser from '@apidevtools/swagger-parser'
import { createConfig, lintFromString } from '@redocly/openapi-core'
import openapiTS, { astToString } from 'openapi-typescript'
import ts from 'typescript'
import { buildTestApp } from '../helpers.ts'

interface Operation { operationId?: string; security?: unknown[]; requestBody?: { content: Record<string, Record<string, unknown>> }; responses: Record<string, { content?: Record<string, { schema?: unknown; example?: unknown }> }> }
interface Document { openapi: string; info: { version: string; license?: { identifier?: string } }; servers?: unknown[]; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown> } }

// The README's public routes (route matrix: public or signed); every other one takes a bearer token.
const PUBLIC = [/^\/health\//, /^\/\.well-known\//, /^\/v1\/agencies$/, /^\/v1\/witness\//, /^\/v1\/messages$/]

t.test('the served document', async (t) => {
  const { app } = await buildTestApp(t)
  const served = await app.inject('/docs/json')
  t.equal(served.statusCode, 200)
  const text = served.body
  const doc = JSON.parse(text) as Document

  t.test('swagger-parser validates it', async (t) => {
    await t.resolves(SwaggerParser.validate(JSON.parse(text)))
  })

  t.test('Redocly lint finds no error and no warning', async (t) => {
    // Redocly's recommended rules, with one exception: Message is referenced only from the
    // `x-jws-payload` extension of POST /v1/messages (the body is a JWS string, not JSON), and
    // linters do not follow references inside extensions, so they would call it unused.
    const config = await createConfig({ extends: ['recommended'], rules: { 'no-unused-components': 'off' } })
    const problems = await lintFromString({ source: text, absoluteRef: 'leix-openapi.json', config })
    t.same(problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} ${p.location[0]?.pointer ?? ''}`), [])
  })

  t.test('each operation: id, security, success schema with example, problems', async (t) => {
    const ids = new Set<string>()
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(operations)) {
        const name = `${method.toUpperCase()} ${path}`
        t.ok(op.operationId && !ids.has(op.operationId), `${name}: unique operationId`)
        ids.add(op.operationId ?? '')
        t.same(op.security, PUBLIC.some((p) => p.test(path)) ? [] : [{ bearer: [] }], `${name}: security`)
        const success = Object.entries(op.responses).filter(([s]) => s.startsWith('2'))
        t.ok(success.length, `${name}: a success response`)
        for (const [status, r] of success) {
          const media = Object.values(r.content ?? {})
          t.ok(media.length && media.every((m) => m.schema && m.example !== undefined), `${name} ${status}: schema and example`)
        }
        for (const [status, r] of Object.entries(op.responses).filter(([s]) => /^[45]/.test(s))) {
          t.same(r.content, { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } }, `${name} ${status}: the shared problem`)
        }
      }
    }
  })

  t.test('submission, info, servers', async (t) => {
    const body = doc.paths['/v1/messages']?.post?.requestBody?.content['application/jose']
    t.ok(body, 'POST /v1/messages takes application/jose')
    t.same(body?.['x-jws-payload'], { $ref: '#/components/schemas/Message' })
    t.ok(doc.components.schemas.Problem)
    t.equal(doc.info.license?.identifier, 'EUPL-1.2')
    t.equal(doc.info.version, (await import('../../package.json', { with: { type: 'json' } })).default.version)
    t.ok(doc.servers?.length)
    // Witnesses speak C2SP signed notes: text, both ways.
    t.ok(doc.paths['/v1/witness/cosignatures']?.post?.requestBody?.content['text/plain'])
    t.ok(doc.paths['/v1/witness/add-checkpoint']?.get?.responses['200']?.content?.['text/plain'])
  })

  t.test('a problem is served as application/problem+json', async (t) => {
    const res = await app.inject('/v1/exchanges')
    t.equal(res.statusCode, 401)
    t.match(res.headers['content-type'], /^application\/problem\+json/)
  })

  t.test('openapi-typescript makes types a client compiles against', async (t) => {
    const types = astToString(await openapiTS(JSON.parse(text)))
    t.match(types, /submitMessage/)
    const dir = mkdtempSync(join(tmpdir(), 'leix-openapi-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    writeFileSync(join(dir, 'leix.ts'), types)
    writeFileSync(join(dir, 'client.ts'), [
      "import type { operations, components } from './leix.ts'",
      "type Submitted = operations['submitMessage']['responses'][202]['content']['application/json']",
      "export const s: Submitted['status'] = 'held'",
      "export const p: components['schemas']['Problem']['code'] = 'not-found'",
      "export const kind: components['schemas']['Message']['kind'] = 'request'",
    ].join('\n'))
    const program = ts.createProgram([join(dir, 'client.ts')], { strict: true, noEmit: true, allowImportingTsExtensions: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, skipLibCheck: true })
    t.same(ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')), [])
  })

  t.test('the reference page at /docs loads from leix alone, under the CSP', async (t) => {
    let page = await app.inject('/docs')
    if (page.statusCode === 302) page = await app.inject(new URL(String(page.headers.location), 'http://x/docs/').pathname)
    t.equal(page.statusCode, 200)
    t.match(page.headers['content-type'], /text\/html/)
    t.match(page.headers['content-security-policy'], /script-src 'self'/)
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string)
    t.ok(assets.length)
    for (const asset of assets) {
      t.notMatch(asset, /^(https?:)?\/\//, `${asset} is served by leix`)
      const res = await app.inject(new URL(asset, 'http://x/docs/').pathname)
      t.equal(res.statusCode, 200, asset)
    }
    t.notMatch(page.body, /<script>[^<]/, 'no inline script')
  })
})
