// Reading an audit export from a file for the offline verifier (src/audit/export/verify.ts),
// which does no I/O itself: the file's lines are digested (parsed, checked for canonical form,
// hashed) in blocks, on worker threads, while this thread checks them in order.
import { createReadStream } from 'node:fs'
import { availableParallelism } from 'node:os'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { JWK } from 'jose'
import { decodeBatch, digestBatch, type DigestedBatch } from '../audit/export/digest-batch.ts'
import { verifyDigests, type LineDigest, type VerifyOptions, type VerifyResult } from '../audit/export/verify.ts'

/** Reads of 1 MiB: an export is read once, front to back, and is often hundreds of megabytes. */
const CHUNK_BYTES = 1 << 20

export interface FileVerifyOptions extends VerifyOptions {
  /**
   * Worker threads that digest the lines; 0 digests them on this thread. Default: one per CPU
   * (at most 4), none on a single CPU.
   */
  threads?: number
  /** Bytes read (and digested as one block) at a time; default 1 MiB. */
  chunkBytes?: number
}

/** The default number of digest threads on this machine. */
export function defaultVerifyThreads (): number {
  const cpus = availableParallelism()
  return cpus > 1 ? Math.min(cpus, 4) : 0
}

/**
 * Verifies the export in `path`: the same checks and the same answer as verifyExport over the
 * file's lines (split on "\n" as bytes, so a bad UTF-8 sequence is pinned to its line), the lines
 * digested in blocks of whole lines on `threads` worker threads (or on this one).
 */
export async function verifyExportFile (path: string, jwks: { keys: JWK[] }, opts: FileVerifyOptions = {}): Promise<VerifyResult> {
  const threads = opts.threads ?? defaultVerifyThreads()
  const chunkBytes = opts.chunkBytes ?? CHUNK_BYTES
  // On this thread the blocks take the workers' path too (encoded, then decoded): one path to test.
  if (threads <= 0) return await verifyDigests(digestedBlocks(path, chunkBytes, 1, async (block) => decodeBatch(digestBatch(block))), jwks, opts)
  const workers = Array.from({ length: threads }, () => new DigestWorker())
  let turn = 0
  try {
    const digest = async (block: Uint8Array): Promise<LineDigest[]> => await (workers[turn++ % threads] as DigestWorker).digest(block)
    return await verifyDigests(digestedBlocks(path, chunkBytes, threads * 2, digest), jwks, opts)
  } finally {
    await Promise.all(workers.map(async (w) => await w.stop()))
  }
}

/**
 * The file's digests, in order: blocks of whole lines (split by digestBatch) go to
 * `digest`, at most `ahead` of them in flight. Stopping early (a failure found) stops the reading.
 */
async function * digestedBlocks (path: string, chunkBytes: number, ahead: number, digest: (block: Uint8Array) => Promise<LineDigest[]>): AsyncGenerator<LineDigest[]> {
  const pending: Array<Promise<LineDigest[]>> = []
  const send = (block: Uint8Array): void => {
    const digests = digest(block)
    // Awaited in order below; one left behind by an early stop is not an unhandled rejection.
    digests.catch(() => {})
    pending.push(digests)
  }
  let rest: Uint8Array = new Uint8Array(0)
  for await (const chunk of createReadStream(path, { highWaterMark: chunkBytes })) {
    // The block is built in a buffer of its own, which goes to the worker as it is (transferred).
    const read = chunk as Buffer
    const block = new Uint8Array(rest.byteLength + read.byteLength)
    block.set(rest, 0)
    block.set(read, rest.byteLength)
    const cut = block.lastIndexOf(0x0a)
    if (cut === -1) {
      rest = block
      continue
    }
    rest = block.slice(cut + 1)
    send(block.subarray(0, cut + 1))
    while (pending.length >= ahead) yield await (pending.shift() as Promise<LineDigest[]>)
  }
  if (rest.byteLength > 0) send(rest)
  while (pending.length > 0) yield await (pending.shift() as Promise<LineDigest[]>)
}

const WORKER = new URL(`./digest-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url)

/** One digest worker thread: blocks in, digests out, answered in the order sent. */
class DigestWorker {
  readonly #worker: Worker
  readonly #waiting = new Map<number, { resolve: (d: LineDigest[]) => void, reject: (err: Error) => void }>()
  #next = 0
  #stopped = false

  constructor () {
    this.#worker = startWorker(WORKER)
    this.#worker.on('message', ({ id, batch }: { id: number, batch: DigestedBatch }) => {
      const waiting = this.#waiting.get(id)
      this.#waiting.delete(id)
      waiting?.resolve(decodeBatch(batch))
    })
    this.#worker.on('error', (err) => this.#fail(err))
    this.#worker.on('exit', (code) => this.#fail(new Error(`a digest worker stopped (exit code ${code})`)))
  }

  digest (block: Uint8Array): Promise<LineDigest[]> {
    const id = this.#next++
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject })
      this.#worker.postMessage({ id, data: block }, [block.buffer as ArrayBuffer])
    })
  }

  async stop (): Promise<void> {
    this.#stopped = true
    await this.#worker.terminate()
  }

  #fail (err: Error): void {
    if (this.#stopped && this.#waiting.size === 0) return
    for (const { reject } of this.#waiting.values()) reject(err)
    this.#waiting.clear()
  }
}

/**
 * A worker thread running `url`. The compiled build's modules are JavaScript; the sources (a
 * checkout run without a build, the tests) are TypeScript, which the worker loads through tsx as
 * bin/leix.js does.
 */
function startWorker (url: URL): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url)
  const tsx = import.meta.resolve('tsx/esm/api')
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => m.register()).then(() => import(${JSON.stringify(url.href)}))`, { eval: true })
}
