// Reading an audit export from a file for the offline verifier (src/audit/export/verify.ts),
// which takes lines and does no I/O itself.
import { createReadStream } from 'node:fs'

/** Lines of a file, split on "\n" as bytes (so a bad UTF-8 sequence is pinned to its line). */
export async function * exportFileLines (path: string): AsyncGenerator<Uint8Array> {
  let rest: Buffer = Buffer.alloc(0)
  // Reads of 1 MiB: an export is read once, front to back, and is often hundreds of megabytes.
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    let data: Buffer = rest.length > 0 ? Buffer.concat([rest, chunk as Buffer]) : chunk as Buffer
    let at: number
    while ((at = data.indexOf(0x0a)) !== -1) {
      yield data.subarray(0, at)
      data = data.subarray(at + 1)
    }
    rest = Buffer.from(data)
  }
  if (rest.length > 0) yield rest
}
