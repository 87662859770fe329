// `leix audit ...`: the auditor's tools. `verify` works offline — no database, no network, no
// configuration: the export file and the broker's public keys are all it trusts.
import { accessSync, constants, createWriteStream, statSync } from 'node:fs'
import { once } from 'node:events'
import type { JWK } from 'jose'
import type { VerifyResult } from '../../audit/export/verify.ts'
import { defaultVerifyThreads, verifyExportFile } from '../export-file.ts'
import { logNoteKeysFromJwks } from '../../audit/note.ts'
import { verifyWitnessed } from '../../audit/witness.ts'
import { TLS_OPTIONS, TOKEN_OPTION, URL_OPTION, baseUrl, clientFrom, printProblem } from '../api.ts'
import { LeixApiError, LeixConnectionError } from '../../client/index.ts'
import { checkpointRoot, verifyCheckpoint, type Checkpoint } from '../../audit/checkpoint.ts'
import { parseNote, parseCheckpointText, verifyCheckpointNote } from '../../audit/note.ts'
import { hashToBase64, parseHashBase64 } from '../../audit/merkle/hash.ts'
import { verifyConsistency } from '../../audit/merkle/verify.ts'
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
The lines are parsed, checked and hashed on worker threads (--threads; default one per CPU, at
most 4), their order, chain and roots checked on the main one: the same answer on any number.
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
    threads: { type: 'string', value: 'N', description: `worker threads that digest the lines (0: none; default ${defaultVerifyThreads()} here)` },
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
    if (values.threads !== undefined && !/^[0-9]{1,2}$/.test(values.threads)) throw new UsageError(`--threads must be a number of threads (0 to 99), got ${values.threads}`)
    const threads = values.threads !== undefined ? Number(values.threads) : defaultVerifyThreads()
    const started = performance.now()
    let result: VerifyResult
    try {
      result = await verifyExportFile(file, jwks, {
        threads,
        ...(previous ? { previous } : {}),
        progressEvery: 100_000,
        onProgress: (done) => {
          if (values.quiet) return
          const seconds = (performance.now() - started) / 1000
          io.stderr.write(`verified ${done} events (${Math.round(done / Math.max(seconds, 0.001))} events/s)\n`)
        },
      })
    } catch (err) {
      // verifyExportFile throws only for unusable arguments (a malformed key set) or I/O.
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

/**
 * A checkpoint an agency or witness kept, verified against the broker's keys: a compact JWS, the
 * JSON of a checkpoint answer ({jws} or {note}, or {checkpoint: …}), or a C2SP signed note.
 */
async function heldCheckpoint (path: string, jwks: { keys: JWK[] }): Promise<Pick<Checkpoint, 'origin' | 'treeSize' | 'rootHash'>> {
  const text = readText(path, 'CHECKPOINT').trim()
  let jws: string | undefined
  let note: string | undefined
  if (text.startsWith('{')) {
    let v: { jws?: unknown; note?: unknown; checkpoint?: { jws?: unknown; note?: unknown } }
    try {
      v = JSON.parse(text)
    } catch (err) {
      throw new UsageError(`checkpoint ${path}: ${(err as Error).message}`)
    }
    const found = typeof v.jws === 'string' || typeof v.note === 'string' ? v : (v.checkpoint ?? {})
    if (typeof found.jws === 'string') jws = found.jws
    else if (typeof found.note === 'string') note = found.note
  } else if (text.includes('\n\n')) {
    note = text + '\n'
  } else {
    jws = text
  }
  if (jws !== undefined) {
    try {
      return await verifyCheckpoint(jws, jwks)
    } catch (err) {
      throw new UsageError(`checkpoint ${path} does not verify against the broker's keys: ${(err as Error).message}`)
    }
  }
  if (note === undefined) throw new UsageError(`checkpoint ${path} holds no checkpoint JWS or note`)
  let origin: string
  try {
    origin = parseCheckpointText(parseNote(note).text).origin
  } catch (err) {
    throw new UsageError(`checkpoint ${path}: ${(err as Error).message}`)
  }
  const r = verifyCheckpointNote(note, logNoteKeysFromJwks(origin, jwks))
  if (!r.ok) throw new UsageError(`checkpoint ${path} does not verify against the broker's keys: ${r.reason}`)
  return r.checkpoint
}

interface ConsistencyAnswer {
  from: number
  to: number
  consistencyPath: string[]
  fromCheckpoint: { rootHash: string }
  toCheckpoint: { jws: string }
}

const check = command({
  name: 'check',
  summary: 'prove a (restored) log is continuous with a checkpoint you kept',
  description: `After a restore: proves that the log the broker at --url serves extends, unchanged, a
checkpoint an agency or a witness kept (a checkpoint JWS, the JSON of a checkpoint answer, or
its C2SP signed note). Fetches GET /v1/audit/proofs/consistency from that tree size to the
newest checkpoint and verifies it here, with nothing trusted but --jwks: your checkpoint's
signature, the newest checkpoint's signature and origin, and the RFC 9162 consistency proof.
A log restored from before your checkpoint, or rewritten since, fails.
Exit 0 continuous, 1 not continuous, 2 usage, unreadable input or the broker unreachable.`,
  positionals: [{ name: 'CHECKPOINT', description: 'the checkpoint you kept (JWS, checkpoint JSON, or signed note)' }],
  options: {
    jwks: { type: 'string', value: 'BROKER-JWKS.json', required: true, description: "the broker's public keys (a JWKS or one JWK)" },
    url: URL_OPTION,
    token: { ...TOKEN_OPTION, description: 'a bearer token of any role' },
    ...TLS_OPTIONS,
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run ({ values, positionals }, io) {
    if (!values.token) throw new UsageError('check needs --token or LEIX_TOKEN (see `leix token`)')
    const jwks = readJwks(values.jwks)
    const held = await heldCheckpoint(positionals[0] as string, jwks)
    const base = baseUrl(values.url)
    const result = (ok: boolean, reason: string, extra: Record<string, unknown> = {}): number => {
      if (values.json) io.stdout.write(JSON.stringify({ ok, reason, origin: held.origin, treeSize: held.treeSize, rootHash: held.rootHash, ...extra }) + '\n')
      else if (ok) io.stdout.write(`OK: ${reason}\n`)
      else io.stderr.write(`NOT CONTINUOUS: ${reason}\n`)
      return ok ? EXIT.ok : EXIT.failed
    }
    if (held.treeSize === 0) return result(true, 'an empty tree is extended by every log')
    const client = clientFrom(values)
    let answer: ConsistencyAnswer
    try {
      answer = await client.request<ConsistencyAnswer>('GET', `/v1/audit/proofs/consistency?from=${held.treeSize}`)
    } catch (err) {
      if (err instanceof LeixApiError && err.status === 404) {
        return result(false, `${base} has no checkpoint of tree size ${held.treeSize}: its log was restored from before your checkpoint, or rewritten`)
      }
      if (err instanceof LeixApiError) {
        printProblem(io, err.status, err.body)
        throw new UsageError(`${base} refused the consistency proof (${err.status})`)
      }
      if (err instanceof LeixConnectionError) throw new UsageError(err.message)
      throw err
    } finally {
      await client.close()
    }
    let newest: Checkpoint
    try {
      newest = await verifyCheckpoint(answer.toCheckpoint.jws, jwks)
    } catch (err) {
      return result(false, `the newest checkpoint from ${base} does not verify: ${(err as Error).message}`)
    }
    if (newest.origin !== held.origin) return result(false, `${base} serves the log ${newest.origin}, your checkpoint is of ${held.origin}`)
    const path = Array.isArray(answer.consistencyPath) ? answer.consistencyPath.map(parseHashBase64) : []
    const served = { to: newest.treeSize, newestRootHash: newest.rootHash, newestTimestamp: newest.timestamp }
    if (answer.fromCheckpoint?.rootHash !== held.rootHash) {
      return result(false, `${base} has a different tree of size ${held.treeSize} (root ${answer.fromCheckpoint?.rootHash}, yours ${held.rootHash}): the log was rewritten`, served)
    }
    if (answer.from !== held.treeSize || path.some((h) => h === undefined) ||
      !verifyConsistency(held.treeSize, newest.treeSize, checkpointRoot(held as Checkpoint), checkpointRoot(newest), path as Buffer[])) {
      return result(false, `the consistency proof from size ${held.treeSize} to ${newest.treeSize} does not verify`, served)
    }
    return result(true, `the log at ${base} (tree size ${newest.treeSize}, root ${hashToBase64(checkpointRoot(newest))}, signed ${newest.timestamp}) ` +
      `extends your checkpoint of ${held.origin} at size ${held.treeSize} unchanged`, served)
  },
})

export const audit: CommandGroup = { name: 'audit', summary: "the audit log's offline tools", subcommands: [verify, download, selfCheck, check] }
