// `leix args...` in the test process, through main(): the output and the exit code, as a process
// would give them, without a process.
import { Writable } from 'node:stream'
import { main } from '../../src/cli/main.ts'

export interface Outcome {
  code: number
  stdout: string
  stderr: string
}

function collector (): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = []
  const stream = new Writable({
    write (chunk: Buffer | string, _encoding, done) {
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk))
      done()
    },
  })
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') }
}

/** Runs leix with exactly `env` as its environment (nothing of the test process's). */
export async function leix (args: string[], env: Record<string, string | undefined> = {}): Promise<Outcome> {
  const out = collector()
  const err = collector()
  const code = await main(args, { stdout: out.stream, stderr: err.stream, env })
  return { code, stdout: out.text(), stderr: err.text() }
}
