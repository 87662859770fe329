// A gateway as `leix gateway` runs (the test app with the server's listener options: every route,
// the audit sealer loop on its interval, no delivery workers, so nothing is pushed anywhere),
// listening on loopback, on a fresh database, with a supervisor.
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { ManualClock, systemClock, type Clock } from '../../src/config/clock.ts'
import type { Config } from '../../src/config/config.ts'
import type { Runtime } from '../../src/runtime.ts'
import { serverOptions } from '../../src/server.ts'
import { buildTestApp, requestMessage, sign, submit, type Teardown } from '../helpers.ts'

export const SUPERVISOR = { agency: 'EU-EUROPOL', sub: 'supervisor-1' }

export interface Gateway {
  app: FastifyInstance
  rt: Runtime
  clock: ManualClock
  /** A bearer token minted by the dev issuer key. */
  token(agency: string, roles: string[], sub?: string): string
  get(url: string, token?: string, headers?: Record<string, string>): Promise<LightMyRequestResponse>
  inject(o: InjectOptions): Promise<LightMyRequestResponse>
  /** Submits a valid request (optionally patched); returns the intake answer. */
  send(from: string, to: string, patch?: Record<string, unknown>): Promise<{ exchangeId: string; messageId: string; status: string }>
  /** Resolves once every recorded event is sealed. */
  sealed(): Promise<void>
}

export async function startGateway (t: Teardown, config: Partial<Config> = {}): Promise<Gateway> {
  const { app, rt } = await buildTestApp<Clock>(t, {
    clock: systemClock,
    config: { role: 'gateway', port: 0, checkpointIntervalMs: 50, supervisors: [`${SUPERVISOR.agency}/${SUPERVISOR.sub}`], ...config },
    app: { fastify: serverOptions({}) },
    workers: false,
    timers: true,
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const clock = new ManualClock(new Date())
  const token = (agency: string, roles: string[], sub = `${agency.toLowerCase()}-${roles.join('-')}`) => app.jwt.sign({ sub, agency, roles })
  return {
    app, rt, clock, token,
    get: (url, bearer, headers = {}) => app.inject({ method: 'GET', url, headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...headers } }),
    inject: (o) => app.inject(o),
    async send (from, to, patch = {}) {
      const res = await submit(app, await sign(requestMessage(clock, { from, to }, patch)))
      if (res.statusCode !== 202) throw new Error(`intake answered ${res.statusCode}: ${res.body}`)
      return res.json()
    },
    async sealed () {
      for (let i = 0; i < 400; i++) {
        const { rows } = await rt.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events WHERE seq IS NULL')
        if (rows[0]?.n === 0) {
          const cp = await rt.pool.query<{ n: number }>(
            'SELECT (SELECT count(*)::int FROM audit_events) - coalesce((SELECT max(tree_size) FROM audit_checkpoints), 0) AS n')
          if (cp.rows[0]?.n === 0) return
        }
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
      throw new Error('events were not sealed')
    },
  }
}
