// `leix audit ...`: the auditor's tools. `verify` works offline — no database, no network, no
// configuration: the export file and the broker's public keys are all it trusts.
import { accessSync, constants, createWriteStream, readFileSync, statSync } from 'node:fs'
import { once } from 'node:events'
import { parseArgs } from 'node:util'
import type { JWK } from 'jose'
import { verifyExport, type VerifyResult } from '../audit/export/verify.ts'
import { exportFileLines } from './export-file.ts'
import { logNoteKeysFromJwks } from '../audit/note.ts'
import { verifyWitnessed } from '../audit/witness.ts'
import { WITNESS_OPTIONS, WitnessArgError, readWitnessedFile, witnessPolicyFromArgs } from './witness-policy.ts'

const EXIT = { ok: 0, failed: 1, usage: 2 } as const

const HELP = `leix audit — the audit log's offline tools

  leix audit verify EXPORT.ndjson --jwks BROKER-JWKS.json [--previous CHECKPOINT] [--quiet] [--json]
      Recomputes every leaf hash, the hash chain and the Merkle roots, checks every checkpoint's
      signature against the broker's keys and, with --previous (a checkpoint JWS you kept, or a
      file holding it or the JSON of GET /v1/audit/checkpoints/latest), that the export extends it.
      Names the first bad event by seq and why. Progress goes to stderr every 100 000 events.
      With --witness-key K (a witness vkey or a file holding one; repeat for each of the n trusted
      witnesses) and --witness-threshold k, also requires --witnessed FILE (the JSON of
      GET /v1/audit/checkpoints/witnessed?witnesses=k&from=<final tree size>): k valid cosignatures
      on the export's final checkpoint, or on a later one proven consistent with it.
      Exit 0 verified, 1 verification failed, 2 usage or unreadable input.

  leix audit export --from SEQ|TIME --to SEQ|TIME [--url URL] [--token T] [--out FILE]
      Downloads an export (auditor or dpo token) to FILE or stdout.

  leix audit self-check [--resolve] [--json]
      The operator's full walk of the log in the database (DATABASE_URL, the broker key):
      lines, leaf hashes, tree nodes, roots and checkpoint signatures. With --resolve, a passing
      walk closes the open integrity alarms so that checkpoint signing resumes.
      Exit 0 the log verifies, 1 it does not, 2 usage or configuration error.`

class AuditUsage extends Error {}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw new AuditUsage(`${what} ${path}: ${(err as Error).message}`)
  }
}

/** A JWKS file ({keys: [...]}) or a single JWK. */
function readJwks(path: string): { keys: JWK[] } {
  let value: unknown
  try {
    value = JSON.parse(readText(path, '--jwks'))
  } catch (err) {
    if (err instanceof AuditUsage) throw err
    throw new AuditUsage(`--jwks ${path} is not JSON`)
  }
  const v = value as { keys?: unknown; kty?: unknown }
  if (Array.isArray(v?.keys)) return { keys: v.keys as JWK[] }
  if (typeof v?.kty === 'string') return { keys: [value as JWK] }
  throw new AuditUsage(`--jwks ${path} is neither a JWKS nor a JWK`)
}

/** The checkpoint JWS in a file: bare, or as {jws} (the API's checkpoint answers) or {checkpoint: {jws}}. */
function readCheckpoint(path: string): string {
  const text = readText(path, '--previous').trim()
  if (!text.startsWith('{')) return text
  try {
    const v = JSON.parse(text) as { jws?: unknown; checkpoint?: { jws?: unknown } }
    const jws = v.jws ?? v.checkpoint?.jws
    if (typeof jws === 'string') return jws
  } catch {
    // fall through
  }
  throw new AuditUsage(`--previous ${path} holds no checkpoint JWS`)
}

function describe(r: Extract<VerifyResult, { ok: false }>): string {
  const at = r.seq === undefined ? '' : r.seqEnd !== undefined && r.seqEnd !== r.seq ? ` at seq ${r.seq}..${r.seqEnd}` : ` at seq ${r.seq}`
  const line = r.line > 0 ? ` (line ${r.line})` : ''
  return `FAILED ${r.code}${at}${line}: ${r.reason}`
}

async function verify(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      jwks: { type: 'string' }, previous: { type: 'string' }, quiet: { type: 'boolean', default: false }, json: { type: 'boolean', default: false },
      ...WITNESS_OPTIONS, witnessed: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  })
  if (positionals.length !== 1 || !values.jwks) throw new AuditUsage('usage: leix audit verify EXPORT.ndjson --jwks BROKER-JWKS.json [--previous CHECKPOINT]')
  const file = positionals[0] as string
  try {
    // Fail early, as a usage error, on a missing or unreadable file (without reading it whole).
    accessSync(file, constants.R_OK)
    if (!statSync(file).isFile()) throw new Error('not a regular file')
  } catch (err) {
    throw new AuditUsage(`export ${file}: ${(err as Error).message}`)
  }
  const jwks = readJwks(values.jwks)
  const policy = witnessPolicyFromArgs(values)
  const witnessed = values.witnessed ? readWitnessedFile(values.witnessed) : undefined
  const previous = values.previous ? readCheckpoint(values.previous) : undefined
  const started = performance.now()
  let result: VerifyResult
  try {
    result = await verifyExport(exportFileLines(file), jwks, {
      ...(previous ? { previous } : {}),
      progressEvery: 100_000,
      onProgress: (done) => {
        if (values.quiet) return
        const seconds = (performance.now() - started) / 1000
        process.stderr.write(`verified ${done} events (${Math.round(done / Math.max(seconds, 0.001))} events/s)\n`)
      },
    })
  } catch (err) {
    // verifyExport throws only for unusable arguments (a malformed key set) or I/O.
    throw new AuditUsage(`cannot verify: ${(err as Error).message}`)
  }
  if (result.ok && (policy.threshold > 0 || witnessed !== undefined)) {
    const check = verifyWitnessed({ origin: result.origin, treeSize: result.treeSize, rootHash: result.rootHash }, witnessed,
      logNoteKeysFromJwks(result.origin, jwks), policy)
    if (!check.ok) result = { ok: false, code: 'witness-policy', line: 0, reason: `${check.code}: ${check.reason}` } as unknown as VerifyResult
    else if (!('skipped' in check) && !values.json && !values.quiet) {
      process.stderr.write(`witnessed: size ${check.checkpoint.treeSize} cosigned by ${check.witnesses.map((w) => w.name).join(', ') || 'no trusted witness'} (policy ${policy.threshold} of ${policy.keys.length})\n`)
    }
  }
  if (values.json) process.stdout.write(JSON.stringify(result) + '\n')
  if (result.ok) {
    if (!values.json) {
      process.stdout.write(
        `OK: ${result.events} events, seq ${result.first}..${result.last}, ${result.checkpoints} checkpoint(s) verified; ` +
          `tree size ${result.treeSize}, root ${result.rootHash}, origin ${result.origin}; ` +
          `complete for the range asked (from ${result.requested.from ?? 'the start'} to ${result.requested.to ?? 'the newest checkpoint'}), signed ${result.exportedAt}` +
          `${previous ? '; consistent with the previous checkpoint' : ''}\n`,
      )
    }
    return EXIT.ok
  }
  process.stderr.write(describe(result) + '\n')
  return EXIT.failed
}

async function download(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { url: { type: 'string' }, token: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, out: { type: 'string' } },
    strict: true,
  })
  const token = values.token ?? process.env.LEIX_TOKEN
  if (!token) throw new AuditUsage('export needs --token or LEIX_TOKEN (an auditor or dpo token)')
  const base = (values.url ?? process.env.LEIX_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '')
  const query = new URLSearchParams()
  if (values.from) query.set('from', values.from)
  if (values.to) query.set('to', values.to)
  let res: Response
  try {
    res = await fetch(`${base}/v1/audit/export?${query.toString()}`, { headers: { authorization: `Bearer ${token}` } })
  } catch (err) {
    throw new AuditUsage(`cannot reach ${base}: ${(err as Error).message}`)
  }
  if (res.status !== 200 || !res.body) {
    process.stderr.write(`export refused (${res.status}): ${await res.text()}\n`)
    return EXIT.failed
  }
  const out = values.out ? createWriteStream(values.out) : process.stdout
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (!out.write(chunk)) await once(out, 'drain')
  }
  if (values.out) {
    out.end()
    await once(out, 'finish')
    process.stderr.write(`export written to ${values.out}; check it with leix audit verify ${values.out} --jwks BROKER-JWKS.json\n`)
  }
  return EXIT.ok
}

async function selfCheckCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { resolve: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } }, strict: true })
  const { loadConfig } = await import('../config/config.ts')
  const { loadBrokerKey } = await import('../config/keys.ts')
  const { createPool } = await import('../store/db.ts')
  const { fullSelfCheck } = await import('../audit/self-check.ts')
  const cfg = loadConfig(process.env)
  const key = loadBrokerKey(cfg)
  const pool = createPool(cfg.databaseUrl, { max: 2 })
  try {
    const started = performance.now()
    const r = await fullSelfCheck(pool, { jwks: { keys: [key.publicJwk] }, origin: cfg.origin, resolve: values.resolve, at: new Date() })
    const seconds = (performance.now() - started) / 1000
    if (values.json) process.stdout.write(JSON.stringify({ ...r, seconds }) + '\n')
    if (r.ok) {
      if (!values.json) {
        process.stdout.write(`OK: ${r.treeSize} events, ${r.checkpoints} checkpoint(s) verified in ${seconds.toFixed(1)} s` +
          `${r.resolved > 0 ? `; ${r.resolved} alarm(s) resolved, sealing resumes` : ''}\n`)
      }
      return EXIT.ok
    }
    process.stderr.write(`FAILED${r.seq !== undefined ? ` at seq ${r.seq}` : ''}: ${r.reason}\n`)
    return EXIT.failed
  } finally {
    await pool.end()
  }
}

/** `leix audit ...`: exit 0 ok, 1 failed (verification or the server refused), 2 usage. */
export async function auditCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args
  try {
    switch (sub) {
      case 'verify':
        return await verify(rest)
      case 'export':
        return await download(rest)
      case 'self-check':
        return await selfCheckCommand(rest)
      case undefined:
      case 'help':
      case '--help':
        process.stdout.write(HELP + '\n')
        return sub === undefined ? EXIT.usage : EXIT.ok
      default:
        throw new AuditUsage(`unknown audit command ${sub}; see leix audit help`)
    }
  } catch (err) {
    if (err instanceof AuditUsage || err instanceof WitnessArgError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`leix audit: ${(err as Error).message}\n`)
      return EXIT.usage
    }
    throw err
  }
}
