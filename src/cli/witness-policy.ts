// Command-line witness policies, shared by `leix audit verify` and `leix evidence verify`:
// --witness-key (repeated: the n trusted witnesses) and --witness-threshold k.
import { readFileSync } from 'node:fs'
import { SIG_COSIGNATURE_V1, parseVkey, type NoteKey } from '../audit/note.ts'
import { WitnessPolicyError, witnessPolicy, type WitnessPolicy, type WitnessedCheckpoint } from '../audit/witness.ts'
import { UsageError, type OptionSpec } from './command.ts'

export const WITNESS_OPTIONS = {
  'witness-key': {
    type: 'string', multiple: true, value: 'K',
    description: 'a trusted witness: its vkey, or a file holding it (repeat for each of the n witnesses)',
  },
  'witness-threshold': { type: 'string', value: 'k', description: 'how many of them must have cosigned (default: all)' },
} as const satisfies Record<string, OptionSpec>

/** A witness vkey given inline, or a file holding one (e.g. the output of leix witness keygen). */
export function readWitnessKeyArg (arg: string): NoteKey {
  let text = arg
  if (!/^[^\s+]+\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+$/.test(arg)) {
    try {
      text = readFileSync(arg, 'utf8').trim()
    } catch (err) {
      throw new UsageError(`--witness-key ${arg}: neither a vkey nor a readable file (${(err as Error).message})`)
    }
  }
  try {
    const key = parseVkey(text)
    if (key.type !== SIG_COSIGNATURE_V1) throw new Error('not a cosignature (0x04) key')
    return key
  } catch (err) {
    throw new UsageError(`--witness-key ${arg}: ${(err as Error).message}`)
  }
}

/** The policy of the arguments; no keys and no threshold is the empty policy (0 of 0). */
export function witnessPolicyFromArgs (values: { 'witness-key'?: string[] | undefined; 'witness-threshold'?: string | undefined }): WitnessPolicy {
  const keys = (values['witness-key'] ?? []).map(readWitnessKeyArg)
  const raw = values['witness-threshold']
  if (raw !== undefined && !/^\d{1,3}$/.test(raw)) throw new UsageError('--witness-threshold must be a whole number')
  // Keys without a threshold: all of them.
  const threshold = raw === undefined ? keys.length : Number(raw)
  try {
    return witnessPolicy(keys, threshold)
  } catch (err) {
    if (err instanceof WitnessPolicyError) throw new UsageError(err.message)
    throw err
  }
}

/** A witnessed checkpoint file: the JSON of GET /v1/audit/checkpoints/witnessed, or a bare signed note. */
export function readWitnessedFile (path: string): WitnessedCheckpoint {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new UsageError(`--witnessed ${path}: ${(err as Error).message}`)
  }
  if (!text.trimStart().startsWith('{')) return { note: text }
  try {
    const v = JSON.parse(text) as { note?: unknown; consistency?: { from?: unknown; path?: unknown } }
    if (typeof v.note !== 'string') throw new Error('no "note"')
    const c = v.consistency
    if (c !== undefined && (typeof c.from !== 'number' || !Array.isArray(c.path) || !c.path.every((h) => typeof h === 'string'))) throw new Error('"consistency" must be {from, path}')
    return { note: v.note, ...(c ? { consistency: { from: c.from as number, path: c.path as string[] } } : {}) }
  } catch (err) {
    throw new UsageError(`--witnessed ${path}: ${(err as Error).message}`)
  }
}
