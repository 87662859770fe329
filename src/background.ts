import type { FastifyInstance } from 'fastify'
import type { DomainError } from './errors.ts'
import type { ReadinessCheck } from './http/routes/health.ts'
import type { Runtime } from './runtime.ts'
import { startDelivery } from './delivery/service.ts'
import { auditService } from './audit/service.ts'
import { witnessService } from './audit/witness-service.ts'

/**
 * The process's background services beside the gateway: delivery workers, the reconciler, the
 * deadline watcher, the audit sealer and retention. Each contributes routes, readiness checks and
 * possibly an intake gate (fail closed), and is stopped in reverse order.
 */
export interface Background {
  routes: ((app: FastifyInstance) => Promise<void>)[]
  readiness: ReadinessCheck[]
  intakeGate: () => DomainError | undefined
  stop(): Promise<void>
}

export interface Service {
  routes?: (app: FastifyInstance) => Promise<void>
  readiness?: ReadinessCheck
  gate?: () => DomainError | undefined
  stop(): Promise<void>
}

/** Service factories, in start order. Later issues add delivery and the audit sealer here. */
export const SERVICES: ((rt: Runtime, opts: { workers: boolean }) => Promise<Service | undefined>)[] = [
  // Audit first, so it stops last (after delivery's final events): sealer, gate, proofs, retention.
  (rt, opts) => auditService(rt, opts),
  // Delivery: inbox and admin routes in every role; workers, reconciler and deadline watcher with workers.
  (rt, opts) => startDelivery(rt, opts),
  // Witnessing: checkpoints as signed notes, cosignatures, alarms (readiness).
  (rt) => witnessService(rt),
]

export async function startBackground(rt: Runtime, opts: { workers: boolean }): Promise<Background> {
  const services: Service[] = []
  for (const factory of SERVICES) {
    const service = await factory(rt, opts)
    if (service) services.push(service)
  }
  return {
    routes: services.flatMap((s) => (s.routes ? [s.routes] : [])),
    readiness: services.flatMap((s) => (s.readiness ? [s.readiness] : [])),
    intakeGate: () => {
      for (const s of services) {
        const problem = s.gate?.()
        if (problem) return problem
      }
      return undefined
    },
    async stop() {
      for (const s of [...services].reverse()) await s.stop()
    },
  }
}
