// `leix receipt verify`: the broker's receipt, checked against its published keys.
import { readFileSync } from 'node:fs'
import { VerificationError } from '../../errors.ts'
import { verifyReceipt } from '../../intake/receipt.ts'
import { TLS_OPTIONS, URL_OPTION, brokerKeys, type SubmitAnswer } from '../api.ts'
import { EXIT, UsageError, command, type CommandGroup } from '../command.ts'
import { readText } from '../files.ts'

/** The receipt JWS given inline, or in a file: bare, or the JSON answer of send. */
function receiptFrom (arg: string): string {
  if (/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(arg)) return arg
  let text: string
  try {
    text = readFileSync(arg, 'utf8').trim()
  } catch (err) {
    throw new UsageError(`receipt ${arg}: not a JWS and not a readable file (${(err as Error).message})`)
  }
  if (text.startsWith('{')) {
    const parsed = JSON.parse(text) as Partial<SubmitAnswer>
    if (typeof parsed.receipt === 'string') return parsed.receipt
  }
  return text
}

const verify = command({
  name: 'verify',
  summary: "verify a receipt's signature (and that it covers the JWS)",
  positionals: [{ name: 'RECEIPT|FILE', description: 'the receipt JWS, or a file holding it or the answer of send' }],
  options: {
    jws: { type: 'string', value: 'FILE', description: 'the JWS sent (send --save-jws): the receipt must cover its bytes' },
    jwks: { type: 'string', value: 'FILE', description: "the broker's keys (default: fetched from --url)" },
    url: URL_OPTION,
    ...TLS_OPTIONS,
  },
  async run ({ values, positionals }, io) {
    const receipt = receiptFrom(positionals[0] as string)
    const jwks = await brokerKeys(io, values)
    if (jwks === undefined) return EXIT.failed
    const jws = values.jws ? readText(values.jws, '--jws').trim() : undefined
    try {
      const body = await verifyReceipt(receipt, jwks, jws)
      io.stdout.write(`receipt valid: ${JSON.stringify(body)}${jws ? ' (covers the given JWS)' : ''}\n`)
      return EXIT.ok
    } catch (err) {
      if (err instanceof VerificationError) {
        io.stderr.write(`receipt INVALID (${err.code}): ${err.message}\n`)
        return EXIT.failed
      }
      throw err
    }
  },
})

export const receipt: CommandGroup = { name: 'receipt', summary: "the broker's signed receipts", subcommands: [verify] }
