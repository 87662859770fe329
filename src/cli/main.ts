import { parseArgs, type ParseArgsConfig } from 'node:util'
import { readFileSync, writeFileSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import * as jose from 'jose'
import { loadConfig, ConfigError, migrationUrl, withUser, type Config } from '../config/config.ts'
import { generateKeyPair, publicJwkOf, signingKeyFromJwk, loadTokenKeys, readJwkFile } from '../config/keys.ts'
import { DirectoryError } from '../directory/load.ts'
import { verifyReceipt } from '../intake/receipt.ts'
import { VerificationError } from '../errors.ts'
import { MESSAGE_TYP } from '../intake/verify.ts'
import { exampleMessage } from './example.ts'

/** Exit codes: 0 ok, 1 the operation failed (a problem answer, a bad receipt), 2 usage or configuration. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const

class UsageError extends Error {
  override readonly name = 'UsageError'
}

const HELP = `leix — secure law-enforcement information exchange

Usage: leix <command> [options]

Run
  serve                       gateway and workers in one process (default for one machine)
  gateway                     the HTTP gateway only
  worker                      the background workers only
  migrate                     apply database migrations as the owner role and exit
                              (LEIX_MIGRATE_DATABASE_URL, default DATABASE_URL with user leix_owner)
  db roles [--admin-url URL] [--print]
                              create the database roles and the database as an administrator
                              (LEIX_ADMIN_DATABASE_URL); --print prints the SQL instead

Keys and tokens
  keys generate --agency ID [--kid KID] [--alg EdDSA|ES256] [--out FILE]
                              new signing key: private JWK (to FILE or stdout) and public JWKS entry
  keys register --agency ID --public FILE [--directory FILE]
                              add a public JWK to an agency in the directory file (restart to apply)
  token --agency ID --sub SUBJECT [--roles officer,...] [--ttl 1h]
                              mint a bearer token (iss, aud, iat, exp) with the configured issuer key (dev)

Messages
  example [--from ID] [--to ID] [--kind request|spontaneous]
                              print a valid example message
  sign --key FILE MESSAGE.json [--fresh]
                              print the compact JWS; --fresh sets a new id and createdAt=now
  send --key FILE MESSAGE.json [--fresh] [--url URL]
                              sign, POST to /v1/messages, print the answer (receipt)
  status EXCHANGE_ID [--token T] [--url URL] [--json]
                              an exchange's status, deadline and timeline
  exchanges [--direction incoming|outgoing] [--status S] [--overdue] [--crime-area A] [--limit N] [--json]
                              the token's agency's exchanges, newest first
  receipt verify RECEIPT|FILE [--jws FILE] [--jwks FILE|--url URL]
                              verify a receipt's signature (and that it covers the JWS)

Audit
  audit verify EXPORT.ndjson --jwks FILE [--previous CHECKPOINT]
                              verify an audit export offline; names the first bad event
  audit export --from SEQ|TIME --to SEQ|TIME [--out FILE]
                              download an export (auditor or dpo token)
  witness keygen|log-vkey|run  run an independent witness of the log (see leix witness help)
  evidence verify BUNDLE.json [--jwks FILE] [--witness-key K ... --witness-threshold k]
                              verify an exchange's evidence bundle offline

Environment: see README.md "Configuration". URL defaults to LEIX_URL or http://127.0.0.1:8080;
token defaults to LEIX_TOKEN.`

function config(): Config {
  return loadConfig(process.env)
}

/**
 * Configuration for the commands that only touch the database (`migrate`, `db roles`): they use
 * the three database URLs, so the gateway's trust settings (directory, token audience), required
 * outside development mode, are not asked for here.
 */
function databaseConfig(): Config {
  const env = process.env
  return loadConfig(env, {
    ...(env.LEIX_TOKEN_AUDIENCE ? {} : { tokenAudience: 'not-used-by-database-commands' }),
    ...(env.LEIX_DIRECTORY ? {} : { directoryPath: 'not-used-by-database-commands' }),
  })
}

function baseUrl(v: string | undefined): string {
  return (v ?? process.env.LEIX_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '')
}

function readJson(path: string, what: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
  } catch (err) {
    throw new UsageError(`${what} ${path}: ${(err as Error).message}`)
  }
}

async function signMessage(keyPath: string, messagePath: string, fresh: boolean): Promise<string> {
  const key = signingKeyFromJwk(readJwkFile(keyPath, '--key'), '--key')
  const message = readJson(messagePath, 'message')
  if (fresh) {
    message.id = randomUUID()
    message.createdAt = new Date().toISOString()
  }
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(message)))
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: MESSAGE_TYP })
    .sign(key.privateKey)
}

async function fetchJson(url: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  let res: Response
  try {
    res = await fetch(url, init)
  } catch (err) {
    throw new UsageError(`cannot reach ${url}: ${(err as Error).cause ? String((err as Error & { cause: unknown }).cause) : (err as Error).message}`)
  }
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: res.status, body }
}

/**
 * GETs a tracking resource with the bearer token of `--token` or LEIX_TOKEN. Returns the body, or
 * undefined after printing the problem (the command then exits 1).
 */
async function readAsOfficer(command: string, values: { token?: unknown; url?: unknown }, path: string): Promise<any> {
  const token = (values.token as string | undefined) ?? process.env.LEIX_TOKEN
  if (!token) throw new UsageError(`${command} needs --token or LEIX_TOKEN (see \`leix token\`)`)
  const { status, body } = await fetchJson(`${baseUrl(values.url as string | undefined)}${path}`, { headers: { authorization: `Bearer ${token}` } })
  if (status >= 300) {
    printProblem(status, body)
    return undefined
  }
  return body
}

/** `3d 4h left` or `2h 5m overdue`. */
function timeLeft(seconds: number): string {
  return `${formatSeconds(seconds)} ${seconds < 0 ? 'overdue' : 'left'}`
}

function printProblem(status: number, body: any): void {
  if (body && typeof body === 'object' && body.type) {
    process.stderr.write(`error ${status} ${body.code ?? body.type}: ${body.detail ?? body.title}\n`)
    for (const v of body.violations ?? []) process.stderr.write(`  ${v.rule} ${v.path}: ${v.message}\n`)
    for (const e of body.errors ?? []) process.stderr.write(`  ${e.path}: ${e.message}\n`)
  } else {
    process.stderr.write(`error ${status}: ${typeof body === 'string' ? body : JSON.stringify(body)}\n`)
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  const args = (options: ParseArgsConfig['options'] = {}) =>
    parseArgs({ args: rest, options, allowPositionals: true, strict: true })

  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP + '\n')
      return command === undefined ? EXIT.usage : EXIT.ok

    case 'serve':
    case 'gateway':
    case 'worker': {
      const { start } = await import('../server.ts')
      const cfg = loadConfig(process.env, { role: command })
      const started = await start(cfg, { installSignalHandlers: true })
      if (!started.app) process.stderr.write(`leix ${command} running\n`)
      return -1 // keep running
    }

    case 'migrate': {
      const { migrateDatabase } = await import('../store/migrations.ts')
      const applied = await migrateDatabase(migrationUrl(databaseConfig()))
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'up to date\n')
      return EXIT.ok
    }

    case 'db': {
      const [sub] = rest
      if (sub !== 'roles') throw new UsageError('usage: leix db roles [--admin-url URL] [--print]')
      const { values } = parseArgs({ args: rest.slice(1), options: { 'admin-url': { type: 'string' }, print: { type: 'boolean', default: false } }, strict: true })
      const { loginOf, setUpDatabase, setupScript } = await import('../store/roles.ts')
      const cfg = databaseConfig()
      const spec = { owner: loginOf(migrationUrl(cfg)), app: loginOf(cfg.databaseUrl), sealer: loginOf(cfg.sealerDatabaseUrl) }
      const database = decodeURIComponent(new URL(cfg.databaseUrl).pathname.slice(1))
      if (!database) throw new UsageError('DATABASE_URL names no database')
      if (values.print) {
        process.stdout.write(setupScript(spec, database))
        return EXIT.ok
      }
      // Default: the superuser `postgres` on DATABASE_URL's server (trust auth on a development machine).
      const fallback = new URL(withUser(cfg.databaseUrl, 'postgres'))
      fallback.pathname = '/postgres'
      const adminUrl = values['admin-url'] ?? process.env.LEIX_ADMIN_DATABASE_URL ?? fallback.toString()
      await setUpDatabase(adminUrl, spec, database)
      process.stdout.write(`roles ${spec.owner.user} (owner), ${spec.app.user} (app), ${spec.sealer.user} (sealer) and database ${database} are ready; now run leix migrate\n`)
      return EXIT.ok
    }

    case 'keys': {
      const [sub] = rest
      if (sub === 'generate') {
        const { values } = parseArgs({ args: rest.slice(1), options: { agency: { type: 'string' }, kid: { type: 'string' }, alg: { type: 'string', default: 'EdDSA' }, out: { type: 'string' } }, strict: true })
        if (!values.agency) throw new UsageError('keys generate needs --agency')
        if (values.alg !== 'EdDSA' && values.alg !== 'ES256') throw new UsageError('--alg must be EdDSA or ES256')
        const kid = values.kid ?? `${values.agency}-${new Date().toISOString().slice(0, 10)}-${randomUUID().slice(0, 8)}`
        const { privateJwk, publicJwk } = await generateKeyPair(kid, values.alg)
        if (values.out) {
          writeFileSync(values.out, JSON.stringify(privateJwk, null, 2) + '\n', { mode: 0o600 })
          process.stderr.write(`private key written to ${values.out} (keep it secret)\n`)
          process.stdout.write(JSON.stringify({ keys: [publicJwk] }, null, 2) + '\n')
        } else {
          process.stdout.write(JSON.stringify({ private: privateJwk, jwks: { keys: [publicJwk] } }, null, 2) + '\n')
        }
        return EXIT.ok
      }
      if (sub === 'register') {
        const { values } = parseArgs({ args: rest.slice(1), options: { agency: { type: 'string' }, public: { type: 'string' }, directory: { type: 'string' } }, strict: true })
        if (!values.agency || !values.public) throw new UsageError('keys register needs --agency and --public')
        const path = values.directory ?? process.env.LEIX_DIRECTORY ?? 'config/directory.sample.json'
        const doc = readJson(path, 'directory') as { agencies: { id: string; jwks: { keys: jose.JWK[] } }[] }
        const agency = doc.agencies.find((a) => a.id === values.agency)
        if (!agency) throw new UsageError(`agency ${values.agency} is not in ${path}`)
        const given = readJson(values.public, 'public key') as { keys?: jose.JWK[] } & jose.JWK
        const jwk = publicJwkOf(given.keys?.[0] ?? given)
        if (!jwk.kid) throw new UsageError('the public key has no kid')
        if (doc.agencies.some((a) => a.jwks.keys.some((k) => k.kid === jwk.kid))) throw new UsageError(`kid ${jwk.kid} is already registered`)
        agency.jwks.keys.push(jwk)
        const { buildDirectory } = await import('../directory/load.ts')
        buildDirectory(structuredClone(doc), { source: path, allowInsecureLoopbackWebhooks: true })
        writeFileSync(path, JSON.stringify(doc, null, 2) + '\n')
        process.stdout.write(`registered ${jwk.kid} for ${values.agency} in ${path}; restart leix to load it\n`)
        return EXIT.ok
      }
      throw new UsageError('keys: use generate or register')
    }

    case 'token': {
      const { values } = args({ agency: { type: 'string' }, sub: { type: 'string' }, roles: { type: 'string', default: 'officer' }, ttl: { type: 'string', default: '1h' } })
      if (!values.agency || !values.sub) throw new UsageError('token needs --agency and --sub')
      const cfg = config()
      const ttlSeconds = parseTtl(String(values.ttl))
      if (ttlSeconds === undefined || ttlSeconds > cfg.tokenMaxLifetimeSeconds) {
        throw new UsageError(`--ttl must be a duration like 30m or 1h, at most LEIX_TOKEN_MAX_LIFETIME (${cfg.tokenMaxLifetimeSeconds} s)`)
      }
      const keys = loadTokenKeys(cfg)
      if (!keys.privatePem) throw new UsageError('no token issuer private key: set LEIX_TOKEN_PRIVATE_KEY, or LEIX_DEV_KEYS=true for development')
      const { createPrivateKey } = await import('node:crypto')
      const token = await new jose.SignJWT({ agency: values.agency, roles: String(values.roles).split(',').map((r) => r.trim()).filter(Boolean) })
        .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: keys.kid })
        .setSubject(String(values.sub))
        .setIssuer(cfg.tokenIssuer)
        .setAudience(cfg.tokenAudience)
        .setIssuedAt()
        .setExpirationTime(`${ttlSeconds}s`)
        .sign(createPrivateKey(keys.privatePem))
      process.stdout.write(token + '\n')
      return EXIT.ok
    }

    case 'example': {
      const { values } = args({ from: { type: 'string', default: 'AL-ASP' }, to: { type: 'string', default: 'RS-MUP' }, kind: { type: 'string', default: 'request' }, officer: { type: 'string', default: 'officer-0042' } })
      if (values.kind !== 'request' && values.kind !== 'spontaneous') throw new UsageError('--kind must be request or spontaneous')
      process.stdout.write(JSON.stringify(exampleMessage({ from: String(values.from), to: String(values.to), kind: values.kind, officer: String(values.officer) }), null, 2) + '\n')
      return EXIT.ok
    }

    case 'sign': {
      const { values, positionals } = args({ key: { type: 'string' }, fresh: { type: 'boolean', default: false } })
      if (!values.key || positionals.length !== 1) throw new UsageError('sign needs --key FILE and one MESSAGE.json')
      process.stdout.write((await signMessage(String(values.key), positionals[0] as string, Boolean(values.fresh))) + '\n')
      return EXIT.ok
    }

    case 'send': {
      const { values, positionals } = args({ key: { type: 'string' }, fresh: { type: 'boolean', default: false }, url: { type: 'string' }, 'save-jws': { type: 'string' } })
      if (!values.key || positionals.length !== 1) throw new UsageError('send needs --key FILE and one MESSAGE.json')
      const jws = await signMessage(String(values.key), positionals[0] as string, Boolean(values.fresh))
      if (values['save-jws']) writeFileSync(String(values['save-jws']), jws + '\n')
      const { status, body } = await fetchJson(`${baseUrl(values.url as string | undefined)}/v1/messages`, {
        method: 'POST', headers: { 'content-type': 'application/jose' }, body: jws,
      })
      if (status >= 300) {
        printProblem(status, body)
        return EXIT.failed
      }
      process.stdout.write(JSON.stringify(body, null, 2) + '\n')
      return EXIT.ok
    }

    case 'status': {
      const { values, positionals } = args({ token: { type: 'string' }, url: { type: 'string' }, json: { type: 'boolean', default: false } })
      if (positionals.length !== 1) throw new UsageError('status needs one EXCHANGE_ID')
      const body = await readAsOfficer('status', values, `/v1/exchanges/${encodeURIComponent(positionals[0] as string)}`)
      if (body === undefined) return EXIT.failed
      if (values.json) {
        process.stdout.write(JSON.stringify(body, null, 2) + '\n')
        return EXIT.ok
      }
      const left = body.timeLeftSeconds === null ? '' : ` (${timeLeft(body.timeLeftSeconds)})`
      process.stdout.write(
        `exchange ${body.id}  ${body.requester} -> ${body.responder}  ${body.kind}, ${body.urgency}\n` +
          `status   ${body.status}${body.overdue ? ' [OVERDUE]' : ''}\n` +
          `deadline ${body.deadline ?? 'none'}${left}\n` +
          `case     ${body.caseRef}  legal basis ${body.legalBasis}  crime areas ${body.crimeAreas.join(', ')}\n` +
          `timeline\n` +
          body.timeline.map((e: any) => `  ${e.at}  ${e.event.padEnd(32)} ${e.actor ?? ''} ${e.outcome}${e.reason ? ` (${e.reason})` : ''}`).join('\n') + '\n',
      )
      return EXIT.ok
    }

    case 'exchanges': {
      const { values } = args({
        token: { type: 'string' }, url: { type: 'string' }, json: { type: 'boolean', default: false }, direction: { type: 'string' },
        status: { type: 'string' }, overdue: { type: 'boolean' }, 'crime-area': { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' },
      })
      const query = new URLSearchParams()
      for (const [flag, param] of [['direction', 'direction'], ['status', 'status'], ['crime-area', 'crimeArea'], ['limit', 'limit'], ['cursor', 'cursor']] as const) {
        if (values[flag] !== undefined) query.set(param, String(values[flag]))
      }
      if (values.overdue) query.set('overdue', 'true')
      const body = await readAsOfficer('exchanges', values, `/v1/exchanges?${query}`)
      if (body === undefined) return EXIT.failed
      if (values.json) {
        process.stdout.write(JSON.stringify(body, null, 2) + '\n')
        return EXIT.ok
      }
      const rows = (body.items as any[]).map((e) => {
        const counterpart = e.direction === 'outgoing' ? `-> ${e.responder}` : `<- ${e.requester}`
        const left = e.timeLeftSeconds === null ? '' : timeLeft(e.timeLeftSeconds)
        return `${e.id}  ${counterpart.padEnd(14)} ${e.status.padEnd(13)} ${(e.overdue ? 'OVERDUE ' : '') + left}`.trimEnd() + `  ${e.caseRef}`
      })
      process.stdout.write((rows.length ? rows.join('\n') : 'no exchanges') + '\n' + (body.nextCursor ? `more: --cursor ${body.nextCursor}\n` : ''))
      return EXIT.ok
    }

    case 'receipt': {
      const [sub, ...more] = rest
      if (sub !== 'verify') throw new UsageError('receipt: use verify')
      const { values, positionals } = parseArgs({ args: more, options: { jws: { type: 'string' }, jwks: { type: 'string' }, url: { type: 'string' } }, allowPositionals: true, strict: true })
      if (positionals.length !== 1) throw new UsageError('receipt verify needs one RECEIPT (the JWS, or a file holding it or the send output)')
      const receipt = receiptFrom(positionals[0] as string)
      let jwks: jose.JSONWebKeySet
      if (values.jwks) jwks = readJson(values.jwks, 'jwks') as unknown as jose.JSONWebKeySet
      else {
        const { status, body } = await fetchJson(`${baseUrl(values.url)}/.well-known/jwks.json`)
        if (status !== 200) throw new UsageError(`could not fetch the broker's keys (${status})`)
        jwks = body as jose.JSONWebKeySet
      }
      const jws = values.jws ? readFileSync(values.jws, 'utf8').trim() : undefined
      try {
        const body = await verifyReceipt(receipt, jwks, jws)
        process.stdout.write(`receipt valid: ${JSON.stringify(body)}${jws ? ' (covers the given JWS)' : ''}\n`)
        return EXIT.ok
      } catch (err) {
        if (err instanceof VerificationError) {
          process.stderr.write(`receipt INVALID (${err.code}): ${err.message}\n`)
          return EXIT.failed
        }
        throw err
      }
    }

    case 'audit': {
      const { auditCommand } = await import('./audit.ts')
      return auditCommand(rest)
    }

    case 'witness': {
      const { witnessCommand } = await import('./witness.ts')
      return witnessCommand(rest)
    }

    case 'evidence': {
      const { evidenceCommand } = await import('./evidence.ts')
      return evidenceCommand(rest)
    }

    default:
      throw new UsageError(`unknown command ${command}; see leix help`)
  }
}

function receiptFrom(arg: string): string {
  if (/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(arg)) return arg
  let text: string
  try {
    text = readFileSync(arg, 'utf8').trim()
  } catch (err) {
    throw new UsageError(`receipt ${arg}: not a JWS and not a readable file (${(err as Error).message})`)
  }
  if (text.startsWith('{')) {
    const parsed = JSON.parse(text) as { receipt?: string }
    if (typeof parsed.receipt === 'string') return parsed.receipt
  }
  return text
}

function formatSeconds(s: number): string {
  const a = Math.abs(s)
  const d = Math.floor(a / 86400)
  const h = Math.floor((a % 86400) / 3600)
  const m = Math.floor((a % 3600) / 60)
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m ${a % 60}s`
}

const isMain = process.argv[1] !== undefined
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exitCode = code
    },
    (err: unknown) => {
      if (err instanceof UsageError || err instanceof ConfigError || err instanceof DirectoryError || (err as Error).name === 'StartupError' || (err as Error).name === 'TypeError' && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
        process.stderr.write(`leix: ${(err as Error).message}\n`)
        process.exitCode = EXIT.usage
      } else {
        process.stderr.write(`leix: ${(err as Error).stack ?? String(err)}\n`)
        process.exitCode = EXIT.failed
      }
    },
  )
}

/** A token lifetime such as `90s`, `30m`, `1h`, in seconds; undefined when not one. */
function parseTtl(text: string): number | undefined {
  const m = /^(\d{1,6})([smh])$/.exec(text)
  if (!m) return undefined
  const seconds = Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h']
  return seconds > 0 ? seconds : undefined
}
