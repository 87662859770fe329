// `leix witness`: an independent witness of a leix audit log (c2sp.org/tlog-witness semantics,
// pulling from leix). Each round it asks leix for the add-checkpoint body from the size it last
// cosigned, verifies the broker's note signature and the consistency proof locally, persists its new
// state and only then sends its cosignature. When leix contradicts what it cosigned, it refuses and
// reports a signed alarm. Its key and state never leave the witness's machine.
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { JWK } from 'jose'
import { SIG_COSIGNATURE_V1, formatNote, formatVkey, isKeyName, logNoteKeysFromJwks, noteKey, parseCheckpointText, parseNote, parseVkey, rawEd25519, signNoteText, type NoteKey } from '../audit/note.ts'
import { addCheckpoint, type WitnessIdentity, type WitnessState } from '../audit/witness.ts'
import { alarmText } from '../audit/witness-service.ts'

const EXIT = { ok: 0, failed: 1, usage: 2 } as const

const HELP = `leix witness — witness a leix audit log

  leix witness keygen --name NAME [--out FILE]
      New Ed25519 witness key. Writes the private key (JWK, kid = NAME) to FILE (mode 600) and prints
      the witness's cosignature vkey, which the leix operator adds to LEIX_WITNESSES and auditors pass
      to --witness-key. NAME: a schema-less URL such as witness.rs-mup.example/leix (no spaces, no +).

  leix witness log-vkey --jwks BROKER-JWKS.json --origin ORIGIN
      The broker's note vkey(s) for ORIGIN, derived from its JWKS (compare with GET /v1/witness/log-key).

  leix witness run --url URL --key FILE --state FILE --log-vkey VKEY [--interval SECONDS] [--once]
      Every interval (default 10 s): fetch the add-checkpoint body for the size last cosigned
      (state FILE, created on first run), verify the broker signature and the consistency proof,
      save the new state, send the cosignature. On an inconsistency: refuse, report a signed alarm,
      exit 1 with --once. One process per state file.`

class WitnessUsage extends Error {}

export interface WitnessConfig {
  url: string
  identity: WitnessIdentity
  /** Trusted log keys by origin. */
  logs: ReadonlyMap<string, readonly NoteKey[]>
  statePath: string
  /** @defaultValue global fetch */
  fetch?: typeof fetch
  now?: () => Date
}

export interface WitnessStateFile {
  state?: WitnessState
  /** The last alarm reported, so that one contradiction is reported once. */
  alarmed?: { treeSize: number; rootHash: string } | { shrunkTo: number }
}

export type RoundResult =
  | { status: 'cosigned'; treeSize: number; previous: number }
  | { status: 'alarm'; reason: string; reported: boolean }
  | { status: 'error'; reason: string }

export function readState(path: string): WitnessStateFile {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw err
  }
  const value = JSON.parse(text) as WitnessStateFile
  if (value.state !== undefined) {
    // The note it cosigned is the evidence; the size and root must be that note's.
    const cp = parseCheckpointText(parseNote(value.state.note).text)
    if (cp.origin !== value.state.origin || cp.treeSize !== value.state.treeSize || cp.rootHash !== value.state.rootHash) {
      throw new Error(`witness state ${path} does not match the note it holds`)
    }
  }
  return value
}

/** Writes the state durably (temporary file, fsync, rename) before any cosignature leaves. */
export function writeState(path: string, value: WitnessStateFile): void {
  const tmp = `${path}.tmp`
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 })
  const fd = openSync(tmp, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, path)
}

/** One witnessing round against leix. Never throws for network or protocol failures. */
export async function runWitnessRound(cfg: WitnessConfig): Promise<RoundResult> {
  const doFetch = cfg.fetch ?? fetch
  const now = cfg.now ?? (() => new Date())
  const base = cfg.url.replace(/\/$/, '')
  const file = readState(cfg.statePath)
  const old = file.state?.treeSize ?? 0

  const reportAlarm = async (alarm: Parameters<typeof alarmText>[0], key: WitnessStateFile['alarmed']): Promise<boolean> => {
    if (JSON.stringify(file.alarmed) === JSON.stringify(key)) return false
    const text = alarmText(alarm)
    const note = formatNote(text, [signNoteText(text, cfg.identity.name, cfg.identity.privateKey)])
    const res = await doFetch(`${base}/v1/witness/alarms`, { method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' }, body: note })
    if (res.status !== 202) throw new Error(`leix refused the alarm (${res.status}): ${await res.text()}`)
    writeState(cfg.statePath, { ...file, alarmed: key })
    return true
  }

  try {
    const res = await doFetch(`${base}/v1/witness/add-checkpoint?old=${old}`, { headers: { accept: 'text/plain' } })
    const body = await res.text()
    if (res.status === 409 && file.state !== undefined) {
      // leix says its newest checkpoint is smaller than what this witness cosigned: history was cut.
      const size = Number((JSON.parse(body) as { treeSize?: unknown }).treeSize)
      const reason = `the log's newest checkpoint has size ${size}, smaller than the size ${old} this witness cosigned`
      const reported = await reportAlarm({ origin: file.state.origin, cosigned: { treeSize: old, rootHash: file.state.rootHash }, reason, time: Math.floor(now().getTime() / 1000) }, { shrunkTo: size })
      return { status: 'alarm', reason, reported }
    }
    if (res.status !== 200) return { status: 'error', reason: `leix answered ${res.status}: ${body.slice(0, 300)}` }
    const result = addCheckpoint(file.state, body, cfg.logs, cfg.identity, now())
    if (result.status === 200) {
      writeState(cfg.statePath, { state: result.state })
      const { text, signatures } = parseNote(result.state.note)
      const cosigned = formatNote(text, [...signatures.map((s) => s.line), result.cosignature])
      const sent = await doFetch(`${base}/v1/witness/cosignatures`, { method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' }, body: cosigned })
      if (sent.status !== 200) return { status: 'error', reason: `leix refused the cosignature (${sent.status}): ${(await sent.text()).slice(0, 300)}` }
      return { status: 'cosigned', treeSize: result.state.treeSize, previous: old }
    }
    if (result.status === 422 && result.alarm === true && file.state !== undefined && result.checkpoint !== undefined) {
      const offered = { treeSize: result.checkpoint.treeSize, rootHash: result.checkpoint.rootHash }
      const reported = await reportAlarm({
        origin: file.state.origin, cosigned: { treeSize: file.state.treeSize, rootHash: file.state.rootHash }, offered, reason: result.reason,
        time: Math.floor(now().getTime() / 1000),
      }, offered)
      return { status: 'alarm', reason: result.reason, reported }
    }
    return { status: 'error', reason: `refused (${result.status}): ${result.reason}` }
  } catch (err) {
    return { status: 'error', reason: (err as Error).message }
  }
}

/** A witness identity from its private JWK file (kid = the witness name). */
export function loadWitnessKey(path: string): WitnessIdentity {
  let jwk: JWK
  try {
    jwk = JSON.parse(readFileSync(path, 'utf8')) as JWK
  } catch (err) {
    throw new WitnessUsage(`--key ${path}: ${(err as Error).message}`)
  }
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.d !== 'string') throw new WitnessUsage(`--key ${path}: not a private Ed25519 JWK`)
  if (typeof jwk.kid !== 'string' || !isKeyName(jwk.kid)) throw new WitnessUsage(`--key ${path}: kid must be the witness name (no spaces, no +)`)
  return { name: jwk.kid, privateKey: createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' }) }
}

/** The cosignature vkey of a witness identity. */
export function witnessVkey(identity: { name: string; privateKey: KeyObject }): string {
  return formatVkey(noteKey(identity.name, SIG_COSIGNATURE_V1, rawEd25519(identity.privateKey)))
}

async function keygen(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { name: { type: 'string' }, out: { type: 'string' } }, strict: true })
  if (!values.name || !isKeyName(values.name)) throw new WitnessUsage('keygen needs --name NAME (no spaces, no +)')
  const { privateKey } = generateKeyPairSync('ed25519')
  const jwk = { ...(privateKey.export({ format: 'jwk' }) as JWK), kid: values.name, alg: 'EdDSA', use: 'sig' }
  const vkey = witnessVkey({ name: values.name, privateKey })
  if (values.out) {
    try {
      writeFileSync(values.out, JSON.stringify(jwk, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
    } catch (err) {
      throw new WitnessUsage(`--out ${values.out}: ${(err as Error).message} (an existing key is never overwritten)`)
    }
    process.stderr.write(`witness key written to ${values.out} (keep it secret); its vkey:\n`)
    process.stdout.write(vkey + '\n')
  } else {
    process.stdout.write(JSON.stringify({ private: jwk, vkey }, null, 2) + '\n')
  }
  return EXIT.ok
}

async function logVkey(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { jwks: { type: 'string' }, origin: { type: 'string' } }, strict: true })
  if (!values.jwks || !values.origin) throw new WitnessUsage('log-vkey needs --jwks FILE and --origin ORIGIN')
  const doc = JSON.parse(readFileSync(values.jwks, 'utf8')) as { keys?: JWK[] }
  const keys = logNoteKeysFromJwks(values.origin, { keys: doc.keys ?? [] })
  if (keys.length === 0) throw new WitnessUsage(`${values.jwks} holds no Ed25519 key`)
  for (const k of keys) process.stdout.write(formatVkey(k) + '\n')
  return EXIT.ok
}

async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      url: { type: 'string' }, key: { type: 'string' }, state: { type: 'string' }, 'log-vkey': { type: 'string', multiple: true },
      interval: { type: 'string', default: '10' }, once: { type: 'boolean', default: false },
    },
    strict: true,
  })
  const url = values.url ?? process.env.LEIX_URL
  if (!url || !values.key || !values.state || !values['log-vkey']?.length) throw new WitnessUsage('run needs --url, --key, --state and --log-vkey (see leix witness help)')
  const interval = Number(values.interval)
  if (!Number.isFinite(interval) || interval < 1) throw new WitnessUsage('--interval must be at least 1 second')
  const logs = new Map<string, NoteKey[]>()
  for (const v of values['log-vkey']) {
    let key: NoteKey
    try {
      key = parseVkey(v)
    } catch (err) {
      throw new WitnessUsage(`--log-vkey: ${(err as Error).message}`)
    }
    logs.set(key.name, [...(logs.get(key.name) ?? []), key])
  }
  const cfg: WitnessConfig = { url, identity: loadWitnessKey(values.key), logs, statePath: values.state }
  process.stderr.write(`witness ${cfg.identity.name} (${witnessVkey(cfg.identity)}) watching ${url}\n`)
  for (;;) {
    const r = await runWitnessRound(cfg)
    const at = new Date().toISOString()
    if (r.status === 'cosigned') process.stdout.write(`${at} cosigned size ${r.treeSize}${r.previous ? ` (consistent with ${r.previous})` : ''}\n`)
    else if (r.status === 'alarm') process.stderr.write(`${at} ALARM${r.reported ? ' (reported to leix)' : ''}: ${r.reason}\n`)
    else process.stderr.write(`${at} ${r.reason}\n`)
    if (values.once) return r.status === 'cosigned' ? EXIT.ok : EXIT.failed
    await new Promise((resolve) => setTimeout(resolve, interval * 1000))
  }
}

/** `leix witness ...`: exit 0 ok, 1 failed (alarm or refusal with --once), 2 usage. */
export async function witnessCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args
  try {
    switch (sub) {
      case 'keygen': return await keygen(rest)
      case 'log-vkey': return await logVkey(rest)
      case 'run': return await run(rest)
      case undefined:
      case 'help':
      case '--help':
        process.stdout.write(HELP + '\n')
        return sub === undefined ? EXIT.usage : EXIT.ok
      default:
        if (sub.startsWith('--')) return await run(args)
        throw new WitnessUsage(`unknown witness command ${sub}; see leix witness help`)
    }
  } catch (err) {
    if (err instanceof WitnessUsage || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`leix witness: ${(err as Error).message}\n`)
      return EXIT.usage
    }
    throw err
  }
}
