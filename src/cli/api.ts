// The CLI as a client of leix's HTTP API (through src/client, the library agencies use): the
// options every networked command shares, and how its failures are printed.
import type * as jose from 'jose'
import { LeixApiError, LeixClient, LeixConnectionError, isProblem } from '../client/index.ts'
import { UsageError, type Io, type OptionSpec } from './command.ts'
import { readJwks, readText } from './files.ts'

export type { ExchangeDetail, ExchangeList, ExchangeSummary, ProblemBody, SubmitAnswer, TimelineEntry } from '../client/types.ts'

export const URL_OPTION = { type: 'string', value: 'URL', env: 'LEIX_URL', default: 'http://127.0.0.1:8080', description: "leix's base URL" } as const satisfies OptionSpec
export const TOKEN_OPTION = { type: 'string', value: 'T', env: 'LEIX_TOKEN', description: 'bearer token (see leix token)' } as const satisfies OptionSpec
export const JSON_OPTION = { type: 'boolean', description: 'print the answer as JSON' } as const satisfies OptionSpec

export function baseUrl (url: string): string {
  return url.replace(/\/$/, '')
}

/** `--ca`, `--cert`, `--cert-key`: on every command that talks to leix. */
export const TLS_OPTIONS = {
  ca: { type: 'string', value: 'FILE', env: 'LEIX_CA', description: "PEM CA certificate(s) to trust for leix's certificate" },
  cert: { type: 'string', value: 'FILE', env: 'LEIX_CERT', description: 'PEM client certificate for mutual TLS (with --cert-key)' },
  'cert-key': { type: 'string', value: 'FILE', env: 'LEIX_CERT_KEY', description: "PEM private key of --cert (--key is the agency's signing key)" },
} as const satisfies Record<string, OptionSpec>

/** What a networked command's options give to the client. */
export interface ConnectionValues {
  url: string
  token?: string | undefined
  ca?: string | undefined
  cert?: string | undefined
  'cert-key'?: string | undefined
}

/** A client for the command's --url, --token and TLS files; the caller closes it. */
export function clientFrom (values: ConnectionValues, o: { needsToken?: string } = {}): LeixClient {
  if (o.needsToken && !values.token) throw new UsageError(`${o.needsToken} needs --token or LEIX_TOKEN (see \`leix token\`)`)
  if (Boolean(values.cert) !== Boolean(values['cert-key'])) throw new UsageError('--cert and --cert-key go together (mutual TLS)')
  return new LeixClient({
    baseUrl: values.url,
    ...(values.token ? { token: values.token } : {}),
    ...(values.ca ? { ca: readText(values.ca, '--ca') } : {}),
    ...(values.cert ? { cert: readText(values.cert, '--cert') } : {}),
    ...(values['cert-key'] ? { key: readText(values['cert-key'], '--cert-key') } : {}),
  })
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
 * Runs `call` with a client for the command's options. Returns its answer, or undefined after
 * printing leix's problem (the command then exits 1); an unreachable leix is a usage error (exit 2).
 */
export async function callLeix<T> (io: Io, values: ConnectionValues, call: (client: LeixClient) => Promise<T>, o: { needsToken?: string } = {}): Promise<T | undefined> {
  const client = clientFrom(values, o)
  try {
    return await call(client)
  } catch (err) {
    if (err instanceof LeixApiError) {
      printProblem(io, err.status, err.body)
      return undefined
    }
    if (err instanceof LeixConnectionError) {
      const hint = /certificate/i.test(err.message) && !values.ca ? ' (trust the CA of leix\'s certificate with --ca FILE)' : ''
      throw new UsageError(err.message + hint)
    }
    throw err
  } finally {
    await client.close()
  }
}

/** The broker's keys: from --jwks FILE when given (offline), else fetched from --url. */
export async function brokerKeys (io: Io, values: ConnectionValues & { jwks?: string | undefined }): Promise<jose.JSONWebKeySet | undefined> {
  if (values.jwks) return readJwks(values.jwks)
  return await callLeix(io, values, (client) => client.jwks())
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/

/** A compact JWS given inline, or a file holding it. */
export function jwsFrom (arg: string, what: string): string {
  if (COMPACT_JWS.test(arg)) return arg
  const text = readText(arg, what).trim()
  if (!COMPACT_JWS.test(text)) throw new UsageError(`${what} ${arg}: not a compact JWS`)
  return text
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
