// Fixtures for the audit integration tests: an app with the audit service wired in as the server
// wires it (routes, gate, readiness), its loop stopped so that tests drive each round.
import type { FastifyInstance } from 'fastify'
import type { JWK } from 'jose'
import { buildApp } from '../../src/app.ts'
import { createAuditService, type AuditService } from '../../src/audit/service.ts'
import { ManualClock } from '../../src/config/clock.ts'
import type { Config } from '../../src/config/config.ts'
import { createRuntime, type Runtime } from '../../src/runtime.ts'
import { createTestDatabase, dropQueueKeys, migrateTestDatabase, requestMessage, sign, submit, testConfig } from '../helpers.ts'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface AuditTestApp {
  app: FastifyInstance
  rt: Runtime
  clock: ManualClock
  audit: AuditService
  databaseUrl: string
}

export async function auditTestApp(t: Teardown, o: { config?: Partial<Config>; databaseUrl?: string; clock?: ManualClock } = {}): Promise<AuditTestApp> {
  const databaseUrl = o.databaseUrl ?? (await createTestDatabase(t))
  const clock = o.clock ?? new ManualClock(new Date())
  const rt = createRuntime(testConfig(databaseUrl, { origin: 'leix.test', ...o.config }), { clock })
  await migrateTestDatabase(rt.config)
  const audit = await createAuditService(rt, { workers: true, autoStart: false })
  const app = await buildApp(rt, {
    readiness: audit.readiness ? [audit.readiness] : [],
    intakeGate: audit.gate ?? (() => undefined),
    extensions: audit.routes ? [audit.routes] : [],
  })
  t.teardown(async () => {
    await app.close()
    await audit.stop()
    await rt.close()
    await dropQueueKeys(rt)
  })
  return { app, rt, clock, audit, databaseUrl }
}

/** Submits a valid request from `from` to `to`; returns the intake answer. */
export async function sendRequest(a: AuditTestApp, from = 'AL-ASP', to = 'RS-MUP'): Promise<{ exchangeId: string; messageId: string }> {
  const res = await submit(a.app, await sign(requestMessage(a.clock, { from, to })))
  if (res.statusCode !== 202) throw new Error(`intake answered ${res.statusCode}: ${res.body}`)
  return res.json()
}

export async function brokerJwks(app: FastifyInstance): Promise<{ keys: JWK[] }> {
  return (await app.inject('/.well-known/jwks.json')).json()
}

export const b64 = (s: string): Buffer => Buffer.from(s, 'base64')
