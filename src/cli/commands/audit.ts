// `leix audit ...`: the auditor's tools. `verify` works offline — no database, no network, no
// configuration: the export file and the broker's public keys are all it trusts.
import { accessSync, constants, createWriteStream, statSync } from 'node:fs'
import { once } from 'node:events'
import { verifyExport, type VerifyResult } from '../../audit/export/verify.ts'
import { exportFileLines } from '../export-file.ts'
import { logNoteKeysFromJwks } from '../../audit/note.ts'
import { verifyWitnessed } from '../../audit/witness.ts'
import { TOKEN_OPTION, URL_OPTION, baseUrl } from '../api.ts'
import { EXIT, UsageError, command, type CommandGroup } from '../command.ts'
import { readJwks, readText } from '../files.ts'
import { WITNESS_OPTIONS, readWitnessedFile, witnessPolicyFromArgs } from '../witness-policy.ts'

/** The checkpoint JWS in a file: bare, or as {jws} (the API's checkpoint answers) or {checkpoint: {jws}}. */
function readCheckpoint (path: string): string {
  const text = readText(path, '--previous').trim()
  if (!text.startsWith('{')) return text
  try {
    const v = JSON.parse(text) as { jws?: unknown; checkpoint?: { jws?: unknown } }
    const jws = v.jws ?? v.checkpoint?.jws
    if (typeof jws === 'string') return jws
  } catch {
    // fall through
  }
  throw new UsageError(`--previous ${path} holds no checkpoint JWS`)
}

function describe (r: Extract<VerifyResult, { ok: false }>): string {
  const at = r.seq === undefined ? '' : r.seqEnd !== undefined && r.seqEnd !== r.seq ? ` at seq ${r.seq}..${r.seqEnd}` : ` at seq ${r.seq}`
  const line = r.line > 0 ? ` (line ${r.line})` : ''
  return `FAILED ${r.code}${at}${line}: ${r.reason}`
}

const verify = command({
  name: 'verify',
  summary: 'verify an audit export offline; names the first bad event',
  description: `Recomputes every leaf hash, the hash chain and the Merkle roots, checks every checkpoint's
signature against the broker's keys and, with --previous (a checkpoint JWS you kept, or a
file holding it or the JSON of GET /v1/audit/checkpoints/latest), that the export extends it.
Names the first bad event by seq and why. Progress goes to stderr every 100 000 events.
With --witness-key K (a witness vkey or a file holding one; repeat for each of the n trusted
witnesses) and --witness-threshold k, also requires --witnessed FILE (the JSON of
GET /v1/audit/checkpoints/witnessed?witnesses=k&from=<final tree size>): k valid cosignatures
on the export's final checkpoint, or on a later one proven consistent with it.
Exit 0 verified, 1 verification failed, 2 usage or unreadable input.`,
  positionals: [{ name: 'EXPORT.ndjson', description: 'the export (GET /v1/audit/export, or leix audit export)' }],
  options: {
    jwks: { type: 'string', value: 'BROKER-JWKS.json', required: true, description: "the broker's public keys (a JWKS or one JWK)" },
    previous: { type: 'string', value: 'CHECKPOINT', description: 'a checkpoint you kept, which the export must extend' },
    quiet: { type: 'boolean', description: 'no progress on stderr' },
    json: { type: 'boolean', description: 'print the result as JSON' },
    ...WITNESS_OPTIONS,
    witnessed: { type: 'string', value: 'FILE', description: 'the witnessed checkpoint (GET /v1/audit/checkpoints/witnessed)' },
  },
  async run ({ values, positionals }, io) {
    const file = positionals[0] as string
    try {
      // Fail early, as a usage error, on a missing or unreadable file (without reading it whole).
      accessSync(file, constants.R_OK)
      if (!statSync(file).isFile()) throw new Error('not a regular file')
    } catch (err) {
      throw new UsageError(`export ${file}: ${(err as Error).message}`)
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
          io.stderr.write(`verified ${done} events (${Math.round(done / Math.max(seconds, 0.001))} events/s)\n`)
        },
      })
    } catch (err) {
      // verifyExport throws only for unusable arguments (a malformed key set) or I/O.
      throw new UsageError(`cannot verify: ${(err as Error).message}`)
    }
    if (result.ok && (policy.threshold > 0 || witnessed !== undefined)) {
      const check = verifyWitnessed({ origin: result.origin, treeSize: result.treeSize, rootHash: result.rootHash }, witnessed,
        logNoteKeysFromJwks(result.origin, jwks), policy)
      if (!check.ok) result = { ok: false, code: 'witness-policy', line: 0, reason: `${check.code}: ${check.reason}` } as unknown as VerifyResult
      else if (!('skipped' in check) && !values.json && !values.quiet) {
        io.stderr.write(`witnessed: size ${check.checkpoint.treeSize} cosigned by ${check.witnesses.map((w) => w.name).join(', ') || 'no trusted witness'} (policy ${policy.threshold} of ${policy.keys.length})\n`)
      }
    }
    if (values.json) io.stdout.write(JSON.stringify(result) + '\n')
    if (result.ok) {
      if (!values.json) {
        io.stdout.write(
          `OK: ${result.events} events, seq ${result.first}..${result.last}, ${result.checkpoints} checkpoint(s) verified; ` +
            `tree size ${result.treeSize}, root ${result.rootHash}, origin ${result.origin}; ` +
            `complete for the range asked (from ${result.requested.from ?? 'the start'} to ${result.requested.to ?? 'the newest checkpoint'}), signed ${result.exportedAt}` +
            `${previous ? '; consistent with the previous checkpoint' : ''}\n`
        )
      }
      return EXIT.ok
    }
    io.stderr.write(describe(result) + '\n')
    return EXIT.failed
  },
})

const download = command({
  name: 'export',
  summary: 'download an export (auditor or dpo token) to FILE or stdout',
  options: {
    from: { type: 'string', value: 'SEQ|TIME', description: 'the first event: a seq, or a time' },
    to: { type: 'string', value: 'SEQ|TIME', description: 'the last event: a seq, or a time' },
    url: URL_OPTION,
    token: { ...TOKEN_OPTION, description: 'an auditor, dpo or supervisor token' },
    out: { type: 'string', value: 'FILE', description: 'write the export to FILE instead of stdout' },
  },
  async run ({ values }, io) {
    if (!values.token) throw new UsageError('export needs --token or LEIX_TOKEN (an auditor or dpo token)')
    const base = baseUrl(values.url)
    const query = new URLSearchParams()
    if (values.from) query.set('from', values.from)
    if (values.to) query.set('to', values.to)
    let res: Response
    try {
      res = await fetch(`${base}/v1/audit/export?${query.toString()}`, { headers: { authorization: `Bearer ${values.token}` } })
    } catch (err) {
      throw new UsageError(`cannot reach ${base}: ${(err as Error).message}`)
    }
    if (res.status !== 200 || !res.body) {
      io.stderr.write(`export refused (${res.status}): ${await res.text()}\n`)
      return EXIT.failed
    }
    const out = values.out ? createWriteStream(values.out) : io.stdout
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      if (!out.write(chunk)) await once(out, 'drain')
    }
    if (values.out) {
      out.end()
      await once(out, 'finish')
      io.stderr.write(`export written to ${values.out}; check it with leix audit verify ${values.out} --jwks BROKER-JWKS.json\n`)
    }
    return EXIT.ok
  },
})

const selfCheck = command({
  name: 'self-check',
  summary: 'full walk of the log in DATABASE_URL; --resolve closes alarms if it passes',
  description: `The operator's full walk of the log in the database (DATABASE_URL, the broker key):
lines, leaf hashes, tree nodes, roots and checkpoint signatures. With --resolve, a passing
walk closes the open integrity alarms so that checkpoint signing resumes.
Exit 0 the log verifies, 1 it does not, 2 usage or configuration error.`,
  options: {
    resolve: { type: 'boolean', description: 'when the walk passes, close the open integrity alarms' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run ({ values }, io) {
    const { loadConfig } = await import('../../config/config.ts')
    const { loadBrokerKey, publishedKeys } = await import('../../config/keys.ts')
    const { createPool } = await import('../../store/db.ts')
    const { fullSelfCheck } = await import('../../audit/self-check.ts')
    const cfg = loadConfig(io.env)
    const key = loadBrokerKey(cfg)
    const pool = createPool(cfg.databaseUrl, { max: 2 })
    try {
      const started = performance.now()
      const r = await fullSelfCheck(pool, { jwks: publishedKeys(key), origin: cfg.origin, resolve: values.resolve, at: new Date() })
      const seconds = (performance.now() - started) / 1000
      if (values.json) io.stdout.write(JSON.stringify({ ...r, seconds }) + '\n')
      if (r.ok) {
        if (!values.json) {
          io.stdout.write(`OK: ${r.treeSize} events, ${r.checkpoints} checkpoint(s) verified in ${seconds.toFixed(1)} s` +
            `${r.resolved > 0 ? `; ${r.resolved} alarm(s) resolved, sealing resumes` : ''}\n`)
        }
        return EXIT.ok
      }
      io.stderr.write(`FAILED${r.seq !== undefined ? ` at seq ${r.seq}` : ''}: ${r.reason}\n`)
      return EXIT.failed
    } finally {
      await pool.end()
    }
  },
})

export const audit: CommandGroup = { name: 'audit', summary: "the audit log's offline tools", subcommands: [verify, download, selfCheck] }
