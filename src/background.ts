import type { DomainError } from './errors.ts'
import type { ReadinessCheck } from './readiness.ts'
import type { Runtime } from './runtime.ts'
import { startDelivery, type DeliveryService } from './delivery/service.ts'
import { createAuditService, type AuditService } from './audit/service.ts'
import { witnessService, type WitnessService } from './audit/witness-service.ts'
import { countOverdueByResponder } from './exchanges/exchanges-repository.ts'
import { AWAITING_ANSWER } from './exchanges/state.ts'

/** A background service: started once, stopped once; it may report on readiness. */
export interface Service {
  readiness?: ReadinessCheck
  stop(): Promise<void>
}

/**
 * The process's services beside the gateway: the audit log (sealer, self-check, retention, the
 * intake gate), delivery (workers, reconciler, deadline watcher) and witnessing. They expose what
 * the routes work with; app.ts registers the routes.
 */
export interface Services {
  audit: AuditService
  delivery: DeliveryService
  witness: WitnessService
  /** Every service's readiness check, in start order. */
  readiness: ReadinessCheck[]
  /** A problem while intake must refuse messages (the audit seal is overdue: fail closed), undefined otherwise. */
  intakeGate: () => DomainError | undefined
  /** Stops the services in reverse start order. Idempotent. */
  stop(): Promise<void>
}

export interface ServiceOptions {
  /** Run the background work here: delivery workers, retention, self-check (false for `leix gateway`). */
  workers: boolean
  /** Run the loops on their intervals; tests pass false and drive each round (`runOnce`). @defaultValue true */
  timers?: boolean
  /** Run the delivery workers (tests of the audit log alone turn them off). @defaultValue the value of `workers` */
  deliveryWorkers?: boolean
}

/**
 * Starts the services, audit first so that it stops last (after delivery's final events). All or
 * nothing: if one fails to start, those already started are stopped and the error is thrown.
 */
export async function startServices (rt: Runtime, opts: ServiceOptions): Promise<Services> {
  const timers = opts.timers ?? true
  const started: Service[] = []
  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      for (const service of [...started].reverse()) await service.stop()
    })()
    return stopping
  }
  rt.metrics.sources.overdue = () => countOverdueByResponder(rt.pool, [...AWAITING_ANSWER])
  try {
    const audit = await createAuditService(rt, { workers: opts.workers, autoStart: timers })
    started.push(audit)
    const delivery = await startDelivery(rt, { workers: opts.deliveryWorkers ?? opts.workers, timers })
    started.push(delivery)
    const witness = await witnessService(rt)
    started.push(witness)
    return {
      audit,
      delivery,
      witness,
      readiness: started.flatMap((s) => (s.readiness ? [s.readiness] : [])),
      intakeGate: () => audit.gate(),
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}
