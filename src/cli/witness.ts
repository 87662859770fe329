// The witness of `leix witness run` (src/cli/commands/witness.ts): an independent witness of a
// leix audit log (c2sp.org/tlog-witness semantics, pulling from leix). Each round it asks leix for
// the add-checkpoint body from the size it last cosigned, verifies the broker's note signature and
// the consistency proof locally, persists its new state and only then sends its cosignature. When
// leix contradicts what it cosigned, it refuses and reports a signed alarm. Its key and state
// never leave the witness's machine.
import { createPrivateKey, type KeyObject } from 'node:crypto'
import { readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs'
import type { JWK } from 'jose'
import { SIG_COSIGNATURE_V1, formatNote, formatVkey, isKeyName, noteKey, parseCheckpointText, parseNote, rawEd25519, signNoteText, type NoteKey } from '../audit/note.ts'
import { addCheckpoint, type WitnessIdentity, type WitnessState } from '../audit/witness.ts'
import { alarmText } from '../audit/witness-service.ts'
import { UsageError } from './command.ts'

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

export function readState (path: string): WitnessStateFile {
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
export function writeState (path: string, value: WitnessStateFile): void {
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
export async function runWitnessRound (cfg: WitnessConfig): Promise<RoundResult> {
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
export function loadWitnessKey (path: string): WitnessIdentity {
  let jwk: JWK
  try {
    jwk = JSON.parse(readFileSync(path, 'utf8')) as JWK
  } catch (err) {
    throw new UsageError(`--key ${path}: ${(err as Error).message}`)
  }
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.d !== 'string') throw new UsageError(`--key ${path}: not a private Ed25519 JWK`)
  if (typeof jwk.kid !== 'string' || !isKeyName(jwk.kid)) throw new UsageError(`--key ${path}: kid must be the witness name (no spaces, no +)`)
  return { name: jwk.kid, privateKey: createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' }) }
}

/** The cosignature vkey of a witness identity. */
export function witnessVkey (identity: { name: string; privateKey: KeyObject }): string {
  return formatVkey(noteKey(identity.name, SIG_COSIGNATURE_V1, rawEd25519(identity.privateKey)))
}
