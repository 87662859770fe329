// `leix delivery verify`: the broker's signature over a pushed delivery (Leix-Delivery-Signature).
import { VerificationError } from '../../client/index.ts'
import { verifyDelivery } from '../../delivery/signature.ts'
import { TLS_OPTIONS, URL_OPTION, brokerKeys, jwsFrom } from '../api.ts'
import { EXIT, command, type CommandGroup } from '../command.ts'
import { readText } from '../files.ts'

const verify = command({
  name: 'verify',
  summary: "verify a pushed delivery's broker signature (and that it covers the body)",
  description: `SIGNATURE is the Leix-Delivery-Signature header's value, or a file holding it. With --body
(the request body as received, the sender's JWS) the signature must cover exactly those bytes; with
--recipient it must be addressed to that agency.`,
  positionals: [{ name: 'SIGNATURE|FILE', description: 'the Leix-Delivery-Signature value, or a file holding it' }],
  options: {
    body: { type: 'string', value: 'FILE', description: 'the delivered body, byte for byte' },
    recipient: { type: 'string', value: 'ID', description: 'your agency: the delivery must be addressed to it' },
    jwks: { type: 'string', value: 'FILE', description: "the broker's keys (default: fetched from --url)" },
    url: URL_OPTION,
    ...TLS_OPTIONS,
  },
  async run ({ values, positionals }, io) {
    const signature = jwsFrom(positionals[0] as string, 'SIGNATURE')
    const jwks = await brokerKeys(io, values)
    if (jwks === undefined) return EXIT.failed
    // A compact JWS holds no whitespace: a saved body's final newline is not part of it.
    const body = values.body === undefined ? undefined : readText(values.body, '--body').trim()
    try {
      const a = await verifyDelivery(signature, jwks, { ...(body !== undefined ? { body } : {}), ...(values.recipient ? { recipient: values.recipient } : {}) })
      io.stdout.write(`delivery signature valid: ${a.kind} ${a.messageId} ${a.sender} -> ${a.recipient}, attempt ${a.attempt}, sent ${a.sentAt}` +
        `${body !== undefined ? ' (covers the given body)' : ''}\n`)
      return EXIT.ok
    } catch (err) {
      if (err instanceof VerificationError) {
        io.stderr.write(`delivery signature INVALID (${err.code}): ${err.message}\n`)
        return EXIT.failed
      }
      throw err
    }
  },
})

export const delivery: CommandGroup = { name: 'delivery', summary: 'pushed deliveries, as a recipient checks them', subcommands: [verify] }
