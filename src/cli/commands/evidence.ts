// `leix evidence verify`: checks an exchange's evidence bundle offline — no database, no network.
import type { JWK } from 'jose'
import { verifyEvidence } from '../../audit/evidence.ts'
import { EXIT, command, type CommandGroup } from '../command.ts'
import { readJson, readJwks } from '../files.ts'
import { WITNESS_OPTIONS, witnessPolicyFromArgs } from '../witness-policy.ts'

const verify = command({
  name: 'verify',
  summary: "verify an exchange's evidence bundle offline",
  description: `Checks, in order: the checkpoint's JWS and its C2SP signed note (the same tree), the witness
policy (k valid cosignatures by the n --witness-key witnesses), each receipt's signature and
binding to its message, each JWS against its receipt's digest, each audit event's canonical
line and inclusion proof to the checkpoint root. Names the first failing check.
Without --jwks the bundle's own broker keys are used: that proves integrity, not origin.
Exit 0 verified, 1 a check failed, 2 usage or unreadable input.`,
  positionals: [{ name: 'BUNDLE.json', description: 'the bundle (GET /v1/exchanges/{id}/evidence)' }],
  options: {
    jwks: { type: 'string', value: 'BROKER-JWKS.json', description: "the broker's public keys, obtained out of band (default: the bundle's own)" },
    ...WITNESS_OPTIONS,
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run ({ values, positionals }, io) {
    const bundle = readJson(positionals[0] as string, 'bundle')
    const jwks: { keys: JWK[] } | undefined = values.jwks ? readJwks(values.jwks) : undefined
    const policy = values['witness-key'] || values['witness-threshold'] ? witnessPolicyFromArgs(values) : undefined
    const result = await verifyEvidence(bundle, { ...(jwks ? { jwks } : {}), ...(policy ? { policy } : {}) })
    if (values.json) io.stdout.write(JSON.stringify(result) + '\n')
    if (!result.ok) {
      if (!values.json) io.stderr.write(`FAILED ${result.check} at ${result.at}: ${result.reason}\n`)
      return EXIT.failed
    }
    if (!values.json) {
      io.stdout.write(
        `OK: exchange ${result.exchangeId} for ${result.party}: ${result.messages} receipt(s), ${result.jwsVerified} JWS(s) matching their receipts, ` +
          `${result.events} event(s) included in tree size ${result.treeSize}` +
          (policy ? `; witnessed by ${result.witnesses.join(', ') || 'none'} (policy ${policy.threshold} of ${policy.keys.length})` : '; no witness policy given') +
          (result.keysFromBundle ? '; broker keys taken from the bundle itself (pass --jwks to check their origin)' : '') + '\n'
      )
    }
    return EXIT.ok
  },
})

export const evidence: CommandGroup = {
  name: 'evidence',
  summary: "an exchange's evidence bundle",
  subcommands: [verify],
  footer: 'Get a bundle: GET /v1/exchanges/{id}/evidence (a party\'s token).',
}
