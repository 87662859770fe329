import { readFileSync } from 'node:fs'
import { rootCertificates } from 'node:tls'
import { Agent, request, type Dispatcher } from 'undici'
import type { Config } from '../config/config.ts'

/** What one POST to a recipient's webhook came to. */
export interface WebhookOutcome {
  /** A 2xx answer: delivered. */
  ok: boolean
  /** A 4xx that no retry can fix: stop trying (see PERMANENT_STATUSES). */
  permanent: boolean
  httpStatus?: number
  /** Short, non-personal reason for a failure: `HTTP 503`, `timeout after 15000 ms`, a socket error code. */
  error?: string
  durationMs: number
}

/**
 * Answers that say the request itself is wrong for this recipient, so sending it again cannot
 * succeed. 408 (timeout) and 429 (rate limit) are absent on purpose: they ask to try again later.
 */
export const PERMANENT_STATUSES: ReadonlySet<number> = new Set([400, 401, 403, 404, 410, 413, 415, 422])

/**
 * The one HTTP agent of a process for recipients' webhooks: keep-alive connections reused across
 * deliveries, and the extra CA of `deliveryCaPath` trusted beside the system roots. Close it at stop.
 */
export function createWebhookAgent (config: Pick<Config, 'deliveryCaPath' | 'deliveryTimeoutMs' | 'workerConcurrency'>): Agent {
  const ca = config.deliveryCaPath ? [...rootCertificates, readFileSync(config.deliveryCaPath, 'utf8')] : undefined
  return new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 120_000,
    connections: Math.max(4, config.workerConcurrency),
    connect: { timeout: config.deliveryTimeoutMs, ...(ca ? { ca } : {}) },
  })
}

/**
 * POSTs `body` to `url` and classifies the answer. Never throws: a network error or timeout is a
 * failed outcome that may be retried. Redirects are not followed (a webhook must answer itself).
 * @param timeoutMs whole-attempt limit, ms: connect, send, and the answer's headers and body.
 */
export async function postWebhook (
  dispatcher: Dispatcher,
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number
): Promise<WebhookOutcome> {
  const started = performance.now()
  const signal = AbortSignal.timeout(timeoutMs)
  const elapsed = () => Math.round(performance.now() - started)
  try {
    const res = await request(url, {
      dispatcher,
      method: 'POST',
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      body,
      signal,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    })
    // The recipient's answer body is not kept (it could hold anything); read it to free the socket.
    await res.body.dump({ limit: 64 * 1024 }).catch(() => {})
    const ok = res.statusCode >= 200 && res.statusCode < 300
    return {
      ok,
      permanent: PERMANENT_STATUSES.has(res.statusCode),
      httpStatus: res.statusCode,
      ...(ok ? {} : { error: `HTTP ${res.statusCode}` }),
      durationMs: elapsed(),
    }
  } catch (err) {
    const e = err as { name?: string; code?: string; message?: string }
    const reason = signal.aborted || e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT'
      ? `timeout after ${timeoutMs} ms`
      : (e.code ?? e.name ?? 'error') + (e.message ? `: ${e.message}` : '')
    return { ok: false, permanent: false, error: reason.slice(0, 300), durationMs: elapsed() }
  }
}
