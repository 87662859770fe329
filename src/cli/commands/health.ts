// `leix health`: probes the local operations listener (LEIX_METRICS_HOST:LEIX_METRICS_PORT), which
// every role runs — the gateway and the workers alike — so one command serves the image's HEALTHCHECK.
import { EXIT, command } from '../command.ts'

export const health = command({
  name: 'health',
  summary: 'probe the local operations listener; exit 0 if healthy, 1 if not',
  options: {
    url: { type: 'string', value: 'URL', env: 'LEIX_HEALTH_URL', description: 'the operations listener (default http://LEIX_METRICS_HOST:LEIX_METRICS_PORT, i.e. http://127.0.0.1:9464)' },
    ready: { type: 'boolean', description: 'check readiness (PostgreSQL, Redis, the audit seal, workers) rather than liveness' },
    json: { type: 'boolean', description: 'print the answer as JSON' },
  },
  async run ({ values }, io) {
    const host = io.env.LEIX_METRICS_HOST ?? '127.0.0.1'
    const base = values.url ?? `http://${host.includes(':') ? `[${host}]` : host}:${io.env.LEIX_METRICS_PORT ?? '9464'}`
    const url = `${base.replace(/\/+$/, '')}/health/${values.ready ? 'ready' : 'live'}`
    let res: Response
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(5000) })
    } catch (err) {
      io.stderr.write(`leix health: ${url} did not answer (${(err as Error).message}); is LEIX_METRICS_PORT set to 0?\n`)
      return EXIT.failed
    }
    const text = await res.text()
    if (values.json) io.stdout.write(text + '\n')
    else io.stdout.write(`${res.ok ? 'healthy' : 'unhealthy'}: ${url} answered ${res.status}\n`)
    return res.ok ? EXIT.ok : EXIT.failed
  },
})
