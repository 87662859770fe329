// `leix proof`: an audit event's inclusion proof, fetched, then checked offline against a
// checkpoint signed by the broker (its keys fetched or given with --jwks).
import { writeFileSync } from 'node:fs'
import { VerificationError, verifyInclusionProof } from '../../client/index.ts'
import { TLS_OPTIONS, TOKEN_OPTION, URL_OPTION, brokerKeys, callLeix } from '../api.ts'
import { EXIT, UsageError, command } from '../command.ts'

function count (text: string, what: string): number {
  if (!/^\d{1,15}$/.test(text)) throw new UsageError(`${what} must be a non-negative integer, got ${text}`)
  return Number(text)
}

export const proof = command({
  name: 'proof',
  summary: "fetch an audit event's inclusion proof and verify it against a signed checkpoint",
  description: `Find the seq of an exchange's events in leix status --json (timeline entries). The proof is
checked here, not trusted: SHA-256(0x00 ‖ line) is the leaf, the audit path leads to the root of the
checkpoint, and the checkpoint's signature verifies with the broker's key of its kid.`,
  positionals: [{ name: 'SEQ', description: "the audit event's sequence number" }],
  options: {
    'tree-size': { type: 'string', value: 'N', description: 'prove in the checkpoint of this tree size (default: the newest)' },
    jwks: { type: 'string', value: 'FILE', description: "the broker's keys, obtained out of band (default: fetched from --url)" },
    out: { type: 'string', value: 'FILE', description: 'also write the proof as fetched (JSON) to FILE' },
    token: TOKEN_OPTION,
    url: URL_OPTION,
    ...TLS_OPTIONS,
  },
  async run ({ values, positionals }, io) {
    const seq = count(positionals[0] as string, 'SEQ')
    const treeSize = values['tree-size'] === undefined ? undefined : count(values['tree-size'], '--tree-size')
    const fetched = await callLeix(io, values, (client) => client.inclusionProof(seq, treeSize), { needsToken: 'proof' })
    if (fetched === undefined) return EXIT.failed
    if (values.out) writeFileSync(values.out, JSON.stringify(fetched, null, 2) + '\n')
    const jwks = await brokerKeys(io, values)
    if (jwks === undefined) return EXIT.failed
    try {
      const { event, checkpoint } = await verifyInclusionProof(fetched, jwks)
      io.stdout.write(
        `proof valid: seq ${seq} (${String(event.type)}, ${String(event.at)}) is in the tree of size ${checkpoint.treeSize}\n` +
        `checkpoint ${checkpoint.origin} root ${checkpoint.rootHash} at ${checkpoint.timestamp}, signed by ${checkpoint.kid}\n`
      )
      return EXIT.ok
    } catch (err) {
      if (err instanceof VerificationError) {
        io.stderr.write(`proof INVALID (${err.code}): ${err.message}\n`)
        return EXIT.failed
      }
      throw err
    }
  },
})
