// Verifying an export (the auditor's side; format.ts describes the lines): no database, no
// network, no files (the CLI reads them, src/cli/export-file.ts), O(log n) memory for any size.
import type { JWK } from 'jose'
import { VerificationError } from '../../errors.ts'
import { isAscii, isUtf8 } from 'node:buffer'
import { isCanonicalParsed } from '../canonical.ts'
import { checkpointRoot, checkpointVerifier, type VerifiedCheckpoint } from '../checkpoint.ts'
import { statementVerifier, type ExportStatement } from '../statement.ts'
import { MerkleAccumulator } from '../merkle/compact.ts'
import { hashToBase64, leafHash, parseHashBase64 } from '../merkle/hash.ts'
import { rangeProofLayout, type RangeNode } from '../merkle/proof.ts'
import { isCount } from '../merkle/sizes.ts'
import { rootFromRange } from '../merkle/verify.ts'

type JsonObject = Record<string, unknown>

function isObject (v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function hasOwn (o: JsonObject, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key)
}

// ---------------------------------------------------------------------------------------------
// Verifying exports (the auditor's side)

export type VerifyCode =
  | 'not-canonical' // a line is not JSON, not UTF-8, or not RFC 8785 canonical
  | 'bad-event' // an event line lacks a valid seq / prev
  | 'seq-gap' // events missing (deleted)
  | 'seq-order' // events swapped, duplicated or going back
  | 'chain-broken' // prev of seq s is not the leaf hash of seq s-1: s-1 (named) was altered
  | 'truncated' // signed statement missing, or it names events the file lacks, or no checkpoint at the last event
  | 'bad-statement' // the statement's signature, header or payload is refused, or it disagrees with the lines
  | 'bad-format' // control lines misplaced or malformed
  | 'bad-checkpoint' // signature, key, header or payload of a checkpoint refused
  | 'root-mismatch' // recomputed root differs from a signed checkpoint
  | 'bad-proof' // the range proof line does not have the expected shape
  | 'bad-previous' // the `previous` checkpoint given by the auditor does not verify
  | 'inconsistent' // the export contradicts (or cannot be checked against) `previous`
  | 'empty' // no events

export type VerifyResult =
  | {
    ok: true, events: number, first: number, last: number, treeSize: number, rootHash: string, checkpoints: number, origin: string
    /** The range the export was asked for, from its signed statement. */
    requested: { from: string | null, to: string | null }
    exportedAt: string
  }
  | { ok: false, code: VerifyCode, seq?: number, seqEnd?: number, line: number, reason: string }

type Failure = Extract<VerifyResult, { ok: false }>

export interface VerifyOptions {
  /** A checkpoint the auditor already trusts: the export must agree with its root. */
  previous?: string
  onProgress?: (eventsDone: number) => void
  /** Events between onProgress calls (default 10 000). */
  progressEvery?: number
}

const fail = (code: VerifyCode, line: number, reason: string, seq?: number, seqEnd?: number): Failure => {
  const f: Failure = { ok: false, code, line, reason }
  if (seq !== undefined) f.seq = seq
  if (seqEnd !== undefined) f.seqEnd = seqEnd
  return f
}

/** "seq 7" or "seq 7..9". */
function span (from: number, to: number): string {
  return from === to ? `seq ${from}` : `seq ${from}..${to}`
}

function exactKeys (o: JsonObject, keys: string[]): boolean {
  return Object.keys(o).sort().join() === [...keys].sort().join()
}

/**
 * What one line says, on its own: decoded, parsed, checked for canonical form and, for an event,
 * hashed. Independent of every other line, so worker threads may compute it for a large file
 * (src/cli/export-file.ts) while the verifier applies the digests in order.
 */
export interface LineDigest {
  kind: 'not-utf8' | 'not-json' | 'not-canonical' | 'not-object' | 'control' | 'event'
  /** The line's `seq` when it is a JSON object with an integer seq (whatever its form). */
  seq: number | undefined
  /** The line is a JSON object with a `leix` member (a control line), whatever its form. */
  control: boolean
  /** An event's prev: null for JSON null, its 32 bytes for a canonical base64 hash, else undefined. */
  prev: Buffer | null | undefined
  /** An event's leaf hash (RFC 9162: of the line's exact bytes). */
  leaf: Buffer | undefined
  /** A control line's value. */
  value: JsonObject | undefined
}

/** The digest of one line (without its "\n"), as text or as the file's bytes. */
export function digestLine (raw: string | Uint8Array): LineDigest {
  const d: LineDigest = { kind: 'not-utf8', seq: undefined, control: false, prev: undefined, leaf: undefined, value: undefined }
  let text: string
  let bytes: Uint8Array
  if (typeof raw === 'string') {
    text = raw
    bytes = Buffer.from(raw, 'utf8')
  } else {
    bytes = raw
    const buffer = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)
    // Nearly every line is ASCII, which is valid UTF-8 and decodes as Latin-1 to the same text, faster.
    if (isAscii(raw)) {
      text = buffer.toString('latin1')
    } else {
      if (!isUtf8(raw)) return d
      text = buffer.toString('utf8')
    }
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    d.kind = 'not-json'
    return d
  }
  if (isObject(value)) {
    if (isCount(value.seq)) d.seq = value.seq
    d.control = hasOwn(value, 'leix')
  }
  // The leaf is the hash of these exact bytes, so this check adds nothing to tamper-evidence
  // (any changed byte changes the root) but names a re-serialised line as such, and refuses a
  // line in any other byte form than the one RFC 8785 defines.
  if (!isCanonicalParsed(text, value)) {
    d.kind = 'not-canonical'
  } else if (!isObject(value)) {
    d.kind = 'not-object'
  } else if (d.control) {
    d.kind = 'control'
    d.value = value
  } else {
    d.kind = 'event'
    d.prev = value.prev === null ? null : parseHashBase64(value.prev)
    d.leaf = leafHash(bytes)
  }
  return d
}

interface RangeHeader { start: number, end: number, treeSize: number, right: RangeNode[] }

/** One pass over an export. State lives in the instance; memory is O(log n). */
class ExportVerifier {
  readonly #verify: (jws: string) => Promise<VerifiedCheckpoint>
  readonly #previous: VerifiedCheckpoint | undefined
  readonly #onProgress: ((n: number) => void) | undefined
  readonly #progressEvery: number

  #lineNo = 0
  #header: RangeHeader | undefined
  #acc: MerkleAccumulator | undefined
  #next = 0 // seq expected on the next event line
  #events = 0
  #first: number | undefined
  #lastLeaf: Buffer | undefined
  #lastEventLine = 0
  #pendingGap: { expected: number, got: number, line: number } | undefined
  #checkpoints = 0
  #lastCheckpoint: VerifiedCheckpoint | undefined
  #lastGood: number | undefined // first seq not yet covered by a verified checkpoint
  #closed = false // a covering checkpoint beyond the last event was verified: only "end" may follow
  #ended = false
  #statementSeen: ExportStatement | undefined
  readonly #verifyStatement: (jws: string) => Promise<ExportStatement>
  #previousRoot: Buffer | undefined

  constructor (verify: (jws: string) => Promise<VerifiedCheckpoint>, verifyStatement: (jws: string) => Promise<ExportStatement>,
    previous: VerifiedCheckpoint | undefined, opts: VerifyOptions) {
    this.#verify = verify
    this.#verifyStatement = verifyStatement
    this.#previous = previous
    this.#onProgress = opts.onProgress
    this.#progressEvery = isCount(opts.progressEvery) && opts.progressEvery > 0 ? opts.progressEvery : 10_000
  }

  /**
   * Checks one line, as digestLine saw it. Synchronous for event lines (nearly all of them), so
   * that a million events do not cost a million promises; a promise for control lines, whose
   * signatures verify async.
   */
  line (d: LineDigest): Failure | undefined | Promise<Failure | undefined> {
    const n = ++this.#lineNo
    if (d.kind === 'not-utf8') return this.#gapDecision(undefined) ?? fail('not-canonical', n, `line ${n} is not valid UTF-8`, this.#seqHint())
    if (d.kind === 'not-json') return this.#gapDecision(undefined) ?? fail('not-canonical', n, `line ${n} is not JSON`, this.#seqHint())
    const gap = this.#gapDecision(d.control ? undefined : d.seq)
    if (gap !== undefined) return gap
    if (this.#ended) return fail('bad-format', n, `line ${n} follows the statement line`)
    if (d.kind === 'not-canonical') {
      return fail('not-canonical', n, `line ${n} is not RFC 8785 canonical JSON (altered or re-serialised)`, d.seq ?? this.#seqHint())
    }
    if (d.kind === 'not-object') return fail('bad-event', n, `line ${n} is not a JSON object`, this.#seqHint())
    if (d.kind === 'control') return this.#control(d.value as JsonObject, n)
    return this.#event(d, n)
  }

  /** The seq a bad line most likely held, for naming it. */
  #seqHint (): number | undefined {
    return this.#events > 0 || this.#header !== undefined ? this.#next : (this.#lineNo === 1 ? 0 : undefined)
  }

  /**
   * A seq jump is a deletion or a reordering; the next line tells which: if it goes back below
   * the jumped-to seq (`laterSeq`: the seq of the next line when it is an event), events were
   * moved, otherwise some are missing.
   */
  #gapDecision (laterSeq: number | undefined): Failure | undefined {
    const g = this.#pendingGap
    if (g === undefined) return undefined
    if (laterSeq !== undefined && laterSeq < g.got) {
      return fail('seq-order', g.line, `line ${g.line} holds seq ${g.got} where seq ${g.expected} belongs, and line ${this.#lineNo} goes back to seq ${laterSeq}: events reordered`, g.expected)
    }
    return fail('seq-gap', g.line, `${span(g.expected, g.got - 1)} missing: line ${g.line} holds seq ${g.got} where seq ${g.expected} belongs (deleted events)`, g.expected, g.got - 1)
  }

  #event (d: LineDigest, n: number): Failure | undefined {
    if (this.#closed) return fail('bad-format', n, `event on line ${n} follows the covering checkpoint`, d.seq)
    const seq = d.seq
    if (seq === undefined) return fail('bad-event', n, `line ${n} has no integer seq`, this.#seqHint())
    if (this.#header !== undefined && seq >= this.#header.end) {
      return fail('bad-format', n, `seq ${seq} on line ${n} lies beyond the range header's end ${this.#header.end}`, seq)
    }
    if (seq !== this.#next) {
      if (seq > this.#next) {
        this.#pendingGap = { expected: this.#next, got: seq, line: n }
        return undefined
      }
      return fail('seq-order', n, `line ${n} holds seq ${seq} but seq ${this.#next} was expected: duplicated or reordered event`, seq)
    }
    if (this.#events === 0) {
      this.#first = seq
      if (seq === 0) {
        if (d.prev !== null) return fail('chain-broken', n, 'seq 0 must have prev null', 0)
      } else if (d.prev === null || d.prev === undefined) {
        // The first event of a range export cannot be chained to seq-1 (not exported); the range proof binds it.
        return fail('bad-event', n, `seq ${seq} on line ${n} has no base64 prev`, seq)
      }
      this.#acc ??= new MerkleAccumulator()
      this.#lastGood = seq
    } else if (d.prev === null || d.prev === undefined || !d.prev.equals(this.#lastLeaf as Buffer)) {
      return fail('chain-broken', this.#lastEventLine,
        `seq ${seq - 1} (line ${this.#lastEventLine}) does not hash to the prev recorded by seq ${seq} (line ${n}): seq ${seq - 1} was altered (or the prev of seq ${seq})`, seq - 1)
    }
    const leaf = d.leaf as Buffer
    const acc = this.#acc as MerkleAccumulator
    acc.push(leaf)
    this.#lastLeaf = leaf
    this.#lastEventLine = n
    this.#next = seq + 1
    this.#events++
    if (this.#previous !== undefined && acc.size === this.#previous.treeSize) this.#previousRoot = acc.root()
    if (this.#onProgress !== undefined && this.#events % this.#progressEvery === 0) this.#onProgress(this.#events)
    return undefined
  }

  async #control (c: JsonObject, n: number): Promise<Failure | undefined> {
    switch (c.leix) {
      case 'range': return this.#range(c, n)
      case 'checkpoint': return await this.#checkpoint(c, n)
      case 'statement': return await this.#statement(c, n)
      case 'end': return fail('truncated', n, `line ${n} is an unsigned end line: an export ends with the broker-signed statement of its range`, this.#events > 0 ? this.#next - 1 : undefined)
      default: return fail('bad-format', n, `line ${n}: unknown control line "${String(c.leix)}"`)
    }
  }

  #range (c: JsonObject, n: number): Failure | undefined {
    if (n !== 1) return fail('bad-format', n, 'the range line must be the first line')
    const { start, end, treeSize, nodes } = c
    if (!exactKeys(c, ['leix', 'start', 'end', 'treeSize', 'nodes']) || !isCount(start) || !isCount(end) || !isCount(treeSize) || !Array.isArray(nodes)) {
      return fail('bad-format', n, 'range line must be {leix, start, end, treeSize, nodes}')
    }
    let layout: Array<{ lo: number, hi: number }>
    try {
      layout = rangeProofLayout(start, end, treeSize)
    } catch (err) {
      return fail('bad-format', n, `range line: ${(err as Error).message}`)
    }
    if (start === 0 && end === treeSize) return fail('bad-format', n, 'range line present for a complete export')
    const parsed: RangeNode[] = []
    for (const [i, want] of layout.entries()) {
      const node: unknown = nodes[i]
      const hash = isObject(node) ? parseHashBase64(node.hash) : undefined
      if (!isObject(node) || !exactKeys(node, ['lo', 'hi', 'hash']) || node.lo !== want.lo || node.hi !== want.hi || hash === undefined) {
        return fail('bad-proof', n, `range proof node ${i} must be {lo: ${want.lo}, hi: ${want.hi}, hash}`)
      }
      parsed.push({ lo: want.lo, hi: want.hi, hash })
    }
    if (nodes.length !== layout.length) return fail('bad-proof', n, `range proof must have ${layout.length} nodes, has ${nodes.length}`)
    // Nodes left of `start` are exactly the perfect subtrees of [0, start): the accumulator's state there.
    const left = parsed.filter((x) => x.hi <= start)
    this.#acc = MerkleAccumulator.from({ size: start, stack: left.map((x) => hashToBase64(x.hash)) })
    this.#header = { start, end, treeSize, right: parsed.filter((x) => x.lo >= end) }
    this.#next = start
    if (this.#previous !== undefined && this.#previous.treeSize === start) this.#previousRoot = this.#acc.root()
    return undefined
  }

  async #checkpoint (c: JsonObject, n: number): Promise<Failure | undefined> {
    if (!exactKeys(c, ['leix', 'jws']) || typeof c.jws !== 'string') return fail('bad-format', n, 'checkpoint line must be {leix, jws}')
    if (this.#events === 0) return fail('bad-format', n, 'checkpoint line before any event')
    if (this.#closed) return fail('bad-format', n, 'checkpoint after the covering checkpoint')
    let cp: VerifiedCheckpoint
    try {
      cp = await this.#verify(c.jws)
    } catch (err) {
      if (!(err instanceof VerificationError)) throw err
      return fail('bad-checkpoint', n, `checkpoint on line ${n} refused (${err.code}): ${err.message}`)
    }
    const last = this.#lastCheckpoint
    if (last !== undefined && cp.origin !== last.origin) return fail('bad-checkpoint', n, `checkpoint on line ${n} is for log "${cp.origin}", not "${last.origin}"`)
    if (last !== undefined && cp.treeSize <= last.treeSize) return fail('bad-format', n, `checkpoint sizes must increase (${cp.treeSize} after ${last.treeSize})`)
    const size = cp.treeSize
    const next = this.#next
    const acc = this.#acc as MerkleAccumulator
    if (size < next) return fail('bad-format', n, `checkpoint of size ${size} on line ${n} belongs right after seq ${size - 1}, not after seq ${next - 1}`)
    let root: Buffer
    const header = this.#header
    if (size === next) {
      root = acc.root()
    } else if (header !== undefined && size === header.treeSize) {
      if (next < header.end) return fail('seq-gap', n, `${span(next, header.end - 1)} missing: the range header promises events up to ${header.end - 1}`, next, header.end - 1)
      try {
        root = rootFromRange(acc.toCompactRange(), 0, next, size, header.right)
      } catch (err) {
        if (!(err instanceof VerificationError)) throw err
        return fail('bad-proof', n, `range proof: ${err.message}`)
      }
      this.#closed = true
    } else {
      return fail('seq-gap', n, `${span(next, size - 1)} missing before the checkpoint of size ${size} on line ${n}`, next, size - 1)
    }
    if (!root.equals(checkpointRoot(cp))) {
      const from = this.#lastGood as number
      if (from === next) {
        // Every event is already proven by an earlier checkpoint: only the proof's nodes are left.
        return fail('bad-proof', n, `the range proof's nodes after seq ${next - 1} do not lead to the root of the checkpoint on line ${n}`)
      }
      const blame = header !== undefined ? ' (or the range proof nodes)' : ''
      return fail('root-mismatch', n,
        `root of size ${size} differs from the checkpoint on line ${n}: an event in ${span(from, next - 1)}${blame} was altered since the last good checkpoint`, from, next - 1)
    }
    this.#lastGood = next
    this.#lastCheckpoint = cp
    this.#checkpoints++
    if (this.#previous !== undefined && size === this.#previous.treeSize) this.#previousRoot = root
    return undefined
  }

  async #statement (c: JsonObject, n: number): Promise<Failure | undefined> {
    if (!exactKeys(c, ['leix', 'jws']) || typeof c.jws !== 'string') return fail('bad-format', n, 'statement line must be {leix, jws}')
    let st: ExportStatement
    try {
      st = await this.#verifyStatement(c.jws)
    } catch (err) {
      if (!(err instanceof VerificationError)) throw err
      return fail('bad-statement', n, `statement on line ${n} refused (${err.code}): ${err.message}`)
    }
    if (this.#events === 0) return fail('empty', n, 'the export holds no events')
    const first = this.#first as number
    const last = this.#next - 1
    const header = this.#header
    if (header !== undefined && this.#next < header.end) {
      return fail('seq-gap', n, `${span(this.#next, header.end - 1)} missing: the range header promises events up to ${header.end - 1}`, this.#next, header.end - 1)
    }
    // Lines missing against what the broker signed: a cut (or an export stitched from two).
    if (st.firstSeq < first || st.lastSeq > last || st.events > this.#events) {
      return fail('truncated', n, `the signed statement covers seq ${st.firstSeq}..${st.lastSeq} (${st.events} events), the file holds seq ${first}..${last} (${this.#events})`,
        st.lastSeq > last ? last + 1 : st.firstSeq, st.lastSeq > last ? st.lastSeq : first - 1)
    }
    if (st.firstSeq !== first || st.lastSeq !== last || st.events !== this.#events) {
      return fail('bad-statement', n, `the signed statement covers seq ${st.firstSeq}..${st.lastSeq} (${st.events} events), the file holds seq ${first}..${last} (${this.#events})`)
    }
    const cp = this.#lastCheckpoint
    if (cp === undefined || cp.treeSize !== last + 1) {
      return fail('truncated', n, `the final checkpoint (size ${cp?.treeSize ?? 'none'}) is not at the last event (size ${last + 1})`, this.#lastGood, last)
    }
    if (st.treeSize !== cp.treeSize || st.rootHash !== cp.rootHash || st.origin !== cp.origin) {
      return fail('bad-statement', n, `the statement names tree size ${st.treeSize}, root ${st.rootHash} of "${st.origin}"; the final checkpoint is size ${cp.treeSize}, root ${cp.rootHash} of "${cp.origin}"`)
    }
    // The requested range: seq bounds must match what was exported (time bounds map to seqs on the server).
    if (st.from !== null && /^\d+$/.test(st.from) && Number(st.from) !== first) {
      return fail('bad-statement', n, `the export was asked from seq ${st.from} but starts at seq ${first}`)
    }
    if (st.to !== null && /^\d+$/.test(st.to) && last >= Number(st.to)) {
      return fail('bad-statement', n, `the export was asked up to seq ${st.to} (exclusive) but holds seq ${last}`)
    }
    this.#statementSeen = st
    this.#ended = true
    return undefined
  }

  finish (): VerifyResult {
    const n = this.#lineNo
    const gap = this.#gapDecision(undefined)
    if (gap !== undefined) return gap
    if (!this.#ended) {
      const after = this.#events > 0 ? ` after seq ${this.#next - 1}` : ''
      return fail('truncated', n, `the file stops at line ${n} without its signed statement: events or trailer lines${after} were cut`, this.#events > 0 ? this.#next - 1 : undefined)
    }
    const cp = this.#lastCheckpoint as VerifiedCheckpoint
    const prev = this.#previous
    // Checked last, once the export itself is proven: a difference then means the log itself forked.
    if (prev !== undefined) {
      if (prev.origin !== cp.origin) return fail('inconsistent', 0, `previous checkpoint is for log "${prev.origin}", the export for "${cp.origin}"`)
      // Size 0 needs no proof: its root is fixed (and checked when the checkpoint was parsed).
      if (prev.treeSize === 0) this.#previousRoot = checkpointRoot(prev)
      if (this.#previousRoot === undefined) {
        const span = this.#header !== undefined ? `${this.#header.start}..${this.#next}` : `0..${this.#next}`
        return fail('inconsistent', 0, `the export proves roots for sizes ${span} and ${cp.treeSize}, not the previous checkpoint's size ${prev.treeSize}`)
      }
      if (!this.#previousRoot.equals(checkpointRoot(prev))) {
        return fail('inconsistent', 0, `the root at size ${prev.treeSize} differs from the previous checkpoint: the log was rewritten`, prev.treeSize - 1)
      }
    }
    if (this.#events % this.#progressEvery !== 0) this.#onProgress?.(this.#events)
    return {
      ok: true, events: this.#events, first: this.#first as number, last: this.#next - 1,
      treeSize: cp.treeSize, rootHash: cp.rootHash, checkpoints: this.#checkpoints, origin: cp.origin,
      requested: { from: (this.#statementSeen as ExportStatement).from, to: (this.#statementSeen as ExportStatement).to },
      exportedAt: (this.#statementSeen as ExportStatement).timestamp
    }
  }
}

/**
 * Verifies an export (its lines without "\n", as text or as UTF-8 bytes) against the broker's
 * JWKS and names the first bad event. Throws only for unusable arguments (a malformed JWKS) or
 * errors of the line source (I/O).
 */
export async function verifyExport (
  input: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
  jwks: { keys: JWK[] },
  opts: VerifyOptions = {}
): Promise<VerifyResult> {
  async function * digests (): AsyncGenerator<LineDigest[]> {
    for await (const line of input) yield [digestLine(line)]
  }
  return await verifyDigests(digests(), jwks, opts)
}

/**
 * Verifies an export given as the digests of its lines (digestLine), in order, in batches of any
 * size: what verifyExport does once the lines are digested, and what a reader that digests a file
 * on several threads hands on. Stops reading at the first failure.
 */
export async function verifyDigests (
  batches: AsyncIterable<Iterable<LineDigest>> | Iterable<Iterable<LineDigest>>,
  jwks: { keys: JWK[] },
  opts: VerifyOptions = {}
): Promise<VerifyResult> {
  const verify = checkpointVerifier(jwks)
  const verifyStatement = statementVerifier(jwks)
  let previous: VerifiedCheckpoint | undefined
  if (opts.previous !== undefined) {
    try {
      previous = await verify(opts.previous)
    } catch (err) {
      if (!(err instanceof VerificationError)) throw err
      return fail('bad-previous', 0, `previous checkpoint refused (${err.code}): ${err.message}`)
    }
  }
  const verifier = new ExportVerifier(verify, verifyStatement, previous, opts)
  for await (const batch of batches) {
    for (const d of batch) {
      let failure = verifier.line(d)
      if (failure instanceof Promise) failure = await failure
      if (failure !== undefined) return failure
    }
  }
  return verifier.finish()
}
