// Digests of many export lines at once, in a form that crosses between threads without copying:
// a worker thread digests a block of the file (digestBatch), the verifier's thread reads the
// digests back (decodeBatch) and applies them in order (verify.ts verifyDigests). No I/O here.
import { digestLine, type LineDigest } from './verify.ts'

/** Bytes per line: kind, flags, seq (float64), prev and leaf (32 bytes each). */
const RECORD = 80
const KINDS: ReadonlyArray<LineDigest['kind']> = ['not-utf8', 'not-json', 'not-canonical', 'not-object', 'control', 'event']
const CONTROL = 1
const SEQ = 2
const PREV_NULL = 4
const PREV_HASH = 8
const LEAF = 16

/** What a worker hands back for one block: its lines' digests, and the values of its control lines (by index). */
export interface DigestedBatch {
  records: ArrayBuffer
  count: number
  controls: Array<[number, Record<string, unknown>]>
}

/**
 * Digests the lines of `data`, split on "\n" as the file reader splits them: every "\n" ends a
 * line (an empty one too); bytes after the last "\n" are one more line when there are any.
 */
export function digestBatch (data: Uint8Array): DigestedBatch {
  const lines: Uint8Array[] = []
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  let start = 0
  for (let at = buffer.indexOf(0x0a); at !== -1; at = buffer.indexOf(0x0a, start)) {
    lines.push(buffer.subarray(start, at))
    start = at + 1
  }
  if (start < buffer.length) lines.push(buffer.subarray(start))
  const records = new ArrayBuffer(lines.length * RECORD)
  const bytes = new Uint8Array(records)
  const view = new DataView(records)
  const controls: DigestedBatch['controls'] = []
  for (const [i, line] of lines.entries()) {
    const d = digestLine(line)
    const at = i * RECORD
    let flags = 0
    if (d.control) flags |= CONTROL
    if (d.seq !== undefined) {
      flags |= SEQ
      view.setFloat64(at + 8, d.seq)
    }
    if (d.prev === null) flags |= PREV_NULL
    else if (d.prev !== undefined) {
      flags |= PREV_HASH
      bytes.set(d.prev, at + 16)
    }
    if (d.leaf !== undefined) {
      flags |= LEAF
      bytes.set(d.leaf, at + 48)
    }
    bytes[at] = KINDS.indexOf(d.kind)
    bytes[at + 1] = flags
    if (d.value !== undefined) controls.push([i, d.value])
  }
  return { records, count: lines.length, controls }
}

/** The digests a batch holds, in line order (their hashes are views on `records`). */
export function decodeBatch ({ records, count, controls }: DigestedBatch): LineDigest[] {
  const bytes = Buffer.from(records)
  const view = new DataView(records)
  const values = new Map(controls)
  const out: LineDigest[] = new Array(count)
  for (let i = 0; i < count; i++) {
    const at = i * RECORD
    const flags = bytes[at + 1] as number
    out[i] = {
      kind: KINDS[bytes[at] as number] as LineDigest['kind'],
      seq: (flags & SEQ) !== 0 ? view.getFloat64(at + 8) : undefined,
      control: (flags & CONTROL) !== 0,
      prev: (flags & PREV_NULL) !== 0 ? null : (flags & PREV_HASH) !== 0 ? bytes.subarray(at + 16, at + 48) : undefined,
      leaf: (flags & LEAF) !== 0 ? bytes.subarray(at + 48, at + 80) : undefined,
      value: values.get(i) as LineDigest['value'],
    }
  }
  return out
}
