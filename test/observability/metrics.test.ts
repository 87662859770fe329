// The operator's view: a real app, real traffic (accept, reject, deliver, fail, seal), then a
// scrape of the operations listener and the captured log lines.
import { PassThrough } from 'node:stream'
import t from 'tap'
import pino from 'pino'
import { systemClock, type Clock } from '../../src/config/clock.ts'
import { deliverMessage, type DeliveryDeps } from '../../src/delivery/deliver.ts'
import { createWebhookAgent } from '../../src/delivery/webhook.ts'
import { buildOperationsApp } from '../../src/http/operations.ts'
import { buildTestApp, requestMessage, sign, submit } from '../helpers.ts'
import { FAST, startRecipient, writeDirectory } from '../delivery/helpers.ts'

const failing = new Set<string>()
const recipient = await startRecipient(t, (r) => (failing.has(String(r.headers['leix-message-id'])) ? 500 : 200))
const directoryPath = writeDirectory(t, { 'RS-MUP': { webhook: recipient.url, maxAttempts: 1 } })
const lines: Record<string, unknown>[] = []
const logStream = new PassThrough()
logStream.on('data', (chunk: Buffer) => {
  for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>)
})
const { app, rt, services } = await buildTestApp<Clock>(t, {
  clock: systemClock, config: { ...FAST, directoryPath, logLevel: 'debug' }, workers: false, deliveryWorkers: false, app: { logStream },
})
const agent = createWebhookAgent(rt.config)
t.teardown(() => agent.close())
const deps: DeliveryDeps = {
  pool: rt.pool, directory: rt.directory, clock: rt.clock, brokerKey: rt.brokerKey, agent, config: rt.config, metrics: rt.metrics, log: pino({ level: 'debug' }, logStream),
}
const ops = await buildOperationsApp(rt, services.readiness)
t.teardown(() => ops.close())

const scrape = async (): Promise<string> => {
  const res = await ops.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/plain/)
  return res.body
}
const value = (text: string, series: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(series + ' ') || (series.endsWith('}') && l.startsWith(series)))
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN
}

t.test('a scrape names every metric, and traffic moves them', async (t) => {
  const before = await scrape()
  for (const name of [
    'leix_intake_messages_total', 'leix_intake_duration_seconds', 'leix_queue_jobs', 'leix_delivery_attempts_total', 'leix_delivery_failures_total',
    'leix_delivery_undeliverable_total', 'leix_reconciler_reenqueued_total', 'leix_audit_seal_lag_seconds', 'leix_audit_checkpoint_age_seconds',
    'leix_audit_unsealed_events', 'leix_exchanges_overdue', 'leix_db_pool_waiting_clients', 'leix_db_pool_connections', 'leix_db_pool_idle_connections',
    'leix_audit_self_check_ok', 'leix_audit_self_check_last_run_timestamp_seconds', 'leix_audit_self_check_failures_total', 'leix_witness_alarms_total',
    'leix_witness_alarm_active', 'nodejs_eventloop_lag_seconds',
  ]) t.match(before, new RegExp(`^# HELP ${name} `, 'm'), name)

  const ok = requestMessage(rt.clock)
  t.equal((await submit(app, await sign(ok))).statusCode, 202)
  t.equal((await submit(app, 'not a jws')).statusCode >= 400, true, 'a rejection')
  const bad = requestMessage(rt.clock)
  failing.add(bad.id)
  t.equal((await submit(app, await sign(bad))).statusCode, 202)
  t.equal((await deliverMessage(deps, ok.id)).kind, 'done')
  const step = await deliverMessage(deps, bad.id)
  t.ok(step.kind === 'done' && step.outcome === 'undeliverable', 'one attempt allowed: undeliverable')

  const unsealed = await scrape()
  t.equal(value(unsealed, 'leix_intake_messages_total{outcome="accepted",problem=""}'), 2, 'two accepted')
  t.match(unsealed, /^leix_intake_messages_total\{outcome="rejected",problem="[a-z-]+"\} 1$/m, 'one rejected, with its problem code')
  t.equal(value(unsealed, 'leix_intake_duration_seconds_count{outcome="accepted"}'), 2)
  t.equal(value(unsealed, 'leix_delivery_attempts_total{recipient="RS-MUP",status="200"}'), 1)
  t.equal(value(unsealed, 'leix_delivery_failures_total{recipient="RS-MUP",status="500"}'), 1)
  t.equal(value(unsealed, 'leix_delivery_undeliverable_total{recipient="RS-MUP"}'), 1)
  t.ok(value(unsealed, 'leix_audit_unsealed_events') > 0, 'events wait to be sealed')
  t.match(unsealed, /^leix_queue_jobs\{queue="delivery",state="waiting"\} \d+$/m)
  t.match(unsealed, /^leix_db_pool_connections\{pool="app"\} [1-9]\d*$/m)

  await services.audit.runOnce()
  const r = await services.audit.selfCheck({ full: true })
  t.ok(r.ok)
  const sealed = await scrape()
  t.equal(value(sealed, 'leix_audit_unsealed_events'), 0, 'sealed')
  t.equal(value(sealed, 'leix_audit_seal_lag_seconds'), 0)
  t.match(sealed, /^leix_audit_checkpoint_age_seconds \d/m)
  t.equal(value(sealed, 'leix_audit_self_check_ok'), 1)
  t.ok(value(sealed, 'leix_audit_self_check_last_run_timestamp_seconds') > 0)
})

t.test('readiness gives counts; health probes log at debug only', async (t) => {
  const before = lines.length
  const res = await app.inject({ method: 'GET', url: '/health/ready' })
  const body = res.json() as { counts?: { audit?: { unsealedEvents: number }; queue?: { waiting: number }; workersAlive?: number } }
  t.type(body.counts?.audit?.unsealedEvents, 'number')
  t.type(body.counts?.queue?.waiting, 'number')
  t.type(body.counts?.workersAlive, 'number')
  const probe = lines.slice(before)
  t.ok(probe.length >= 1)
  t.ok(probe.every((l) => l.level === 20), 'every probe line is debug')
  t.equal((await ops.inject({ method: 'GET', url: '/health/live' })).statusCode, 200, 'the operations listener answers liveness')
})

t.test('log lines an operator can follow, without bodies or tokens', async (t) => {
  const accepted = lines.filter((l) => l.msg === 'message accepted')
  t.equal(accepted.length, 2, 'one info line per accepted message')
  t.ok(accepted.every((l) => l.level === 30 && typeof l.messageId === 'string' && typeof l.exchangeId === 'string'))
  const failed = lines.find((l) => l.msg === 'delivery attempt failed')
  t.match(failed, { level: 40, recipient: 'RS-MUP', status: '500', attempt: 1, messageId: String(requestMessage.length >= 0 ? failed?.messageId : '') })
  t.type(failed?.exchangeId, 'string')
  const undeliverable = lines.find((l) => String(l.msg).startsWith('message undeliverable'))
  t.match(undeliverable, { level: 50, recipient: 'RS-MUP' })
  t.type(undeliverable?.messageId, 'string')
  const all = lines.map((l) => JSON.stringify(l)).join('\n')
  t.notMatch(all, /"body"|eyJ[A-Za-z0-9_-]{20,}\./, 'no body, no JWS or token')
})
