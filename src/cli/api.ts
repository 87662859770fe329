// The CLI as a client of leix's HTTP API: the answers it reads, typed as the API sends them
// (README "HTTP API"), and the options every client command shares.
import { UsageError, type Io, type OptionSpec } from './command.ts'

/** POST /v1/messages: the broker's answer, with its signed receipt. */
export interface SubmitAnswer {
  exchangeId: string
  messageId: string
  status: string
  deadline: string | null
  receipt: string
}

/** One hop of an exchange's timeline (GET /v1/exchanges/{id}). */
export interface TimelineEntry {
  at: string
  event: string
  actor?: string
  outcome: string
  reason?: string
}

/** One exchange as the caller's agency sees it (GET /v1/exchanges items). */
export interface ExchangeSummary {
  id: string
  requester: string
  responder: string
  direction: 'outgoing' | 'incoming'
  kind: 'request' | 'spontaneous'
  caseRef: string
  crimeAreas: string[]
  legalBasis: string
  urgency: 'urgent' | 'normal'
  status: string
  deadline: string | null
  /** Negative when overdue; null when no deadline runs. */
  timeLeftSeconds: number | null
  overdue: boolean
}

/** GET /v1/exchanges/{id}. */
export interface ExchangeDetail extends ExchangeSummary {
  timeline: TimelineEntry[]
}

/** GET /v1/exchanges: a page, newest first. */
export interface ExchangeList {
  items: ExchangeSummary[]
  nextCursor: string | null
}

/** An application/problem+json answer (RFC 9457), with leix's extensions. */
export interface ProblemBody {
  type: string
  title?: string
  detail?: string
  code?: string
  violations?: { rule: string; path: string; message: string }[]
  errors?: { path: string; message: string }[]
}

export const URL_OPTION = { type: 'string', value: 'URL', env: 'LEIX_URL', default: 'http://127.0.0.1:8080', description: "leix's base URL" } as const satisfies OptionSpec
export const TOKEN_OPTION = { type: 'string', value: 'T', env: 'LEIX_TOKEN', description: 'bearer token (see leix token)' } as const satisfies OptionSpec
export const JSON_OPTION = { type: 'boolean', description: 'print the answer as JSON' } as const satisfies OptionSpec

export function baseUrl (url: string): string {
  return url.replace(/\/$/, '')
}

function isProblem (body: unknown): body is ProblemBody {
  return typeof body === 'object' && body !== null && typeof (body as { type?: unknown }).type === 'string'
}

/** The answer's status and body: parsed JSON, or the text when it is not JSON. */
export async function fetchJson (url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  let res: Response
  try {
    res = await fetch(url, init)
  } catch (err) {
    const cause = (err as Error & { cause?: unknown }).cause
    throw new UsageError(`cannot reach ${url}: ${cause ? String(cause) : (err as Error).message}`)
  }
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: res.status, body }
}

export function printProblem (io: Io, status: number, body: unknown): void {
  if (isProblem(body)) {
    io.stderr.write(`error ${status} ${body.code ?? body.type}: ${body.detail ?? body.title}\n`)
    for (const v of body.violations ?? []) io.stderr.write(`  ${v.rule} ${v.path}: ${v.message}\n`)
    for (const e of body.errors ?? []) io.stderr.write(`  ${e.path}: ${e.message}\n`)
  } else {
    io.stderr.write(`error ${status}: ${typeof body === 'string' ? body : JSON.stringify(body)}\n`)
  }
}

/**
 * GETs a tracking resource with a bearer token. Returns the body (typed as the API answers it),
 * or undefined after printing the problem (the command then exits 1).
 */
export async function readAsOfficer<T> (io: Io, command: string, values: { token: string | undefined; url: string }, path: string): Promise<T | undefined> {
  if (!values.token) throw new UsageError(`${command} needs --token or LEIX_TOKEN (see \`leix token\`)`)
  const { status, body } = await fetchJson(`${baseUrl(values.url)}${path}`, { headers: { authorization: `Bearer ${values.token}` } })
  if (status >= 300) {
    printProblem(io, status, body)
    return undefined
  }
  return body as T
}

/** `3d 4h left` or `2h 5m overdue`. */
export function timeLeft (seconds: number): string {
  return `${formatSeconds(seconds)} ${seconds < 0 ? 'overdue' : 'left'}`
}

function formatSeconds (s: number): string {
  const a = Math.abs(s)
  const d = Math.floor(a / 86400)
  const h = Math.floor((a % 86400) / 3600)
  const m = Math.floor((a % 3600) / 60)
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m ${a % 60}s`
}
