// Fixtures for the audit integration tests: the test app (wired as the server wires it) with the
// audit log's retention and self-check on, its loop stopped so that tests drive each round, and no
// delivery workers, so that no delivery event interleaves with the events a test counts.
import type { FastifyInstance } from 'fastify'
import type { JWK } from 'jose'
import type { AuditService } from '../../src/audit/service.ts'
import type { ManualClock } from '../../src/config/clock.ts'
import type { Config } from '../../src/config/config.ts'
import type { Runtime } from '../../src/runtime.ts'
import { buildTestApp, requestMessage, sign, submit, type Teardown } from '../helpers.ts'

export interface AuditTestApp {
  app: FastifyInstance
  rt: Runtime
  clock: ManualClock
  audit: AuditService
  databaseUrl: string
}

export async function auditTestApp (t: Teardown, o: { config?: Partial<Config>; databaseUrl?: string; clock?: ManualClock } = {}): Promise<AuditTestApp> {
  const { app, rt, clock, services, databaseUrl } = await buildTestApp(t, {
    ...o, config: { origin: 'leix.test', ...o.config }, workers: true, deliveryWorkers: false,
  })
  return { app, rt, clock, audit: services.audit, databaseUrl }
}

/** Submits a valid request from `from` to `to`; returns the intake answer. */
export async function sendRequest (a: AuditTestApp, from = 'AL-ASP', to = 'RS-MUP'): Promise<{ exchangeId: string; messageId: string }> {
  const res = await submit(a.app, await sign(requestMessage(a.clock, { from, to })))
  if (res.statusCode !== 202) throw new Error(`intake answered ${res.statusCode}: ${res.body}`)
  return res.json()
}

export async function brokerJwks (app: FastifyInstance): Promise<{ keys: JWK[] }> {
  return (await app.inject('/.well-known/jwks.json')).json()
}

export const b64 = (s: string): Buffer => Buffer.from(s, 'base64')
