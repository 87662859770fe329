// `leix evidence verify`: checks an exchange's evidence bundle offline — no database, no network.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { JWK } from 'jose'
import { verifyEvidence } from '../audit/evidence.ts'
import { WITNESS_OPTIONS, WitnessArgError, witnessPolicyFromArgs } from './witness-policy.ts'

const EXIT = { ok: 0, failed: 1, usage: 2 } as const

const HELP = `leix evidence — an exchange's evidence bundle

  leix evidence verify BUNDLE.json [--jwks BROKER-JWKS.json] [--witness-key K ... --witness-threshold k] [--json]
      Checks, in order: the checkpoint's JWS and its C2SP signed note (the same tree), the witness
      policy (k valid cosignatures by the n --witness-key witnesses), each receipt's signature and
      binding to its message, each JWS against its receipt's digest, each audit event's canonical
      line and inclusion proof to the checkpoint root. Names the first failing check.
      Without --jwks the bundle's own broker keys are used: that proves integrity, not origin.
      Exit 0 verified, 1 a check failed, 2 usage or unreadable input.

  Get a bundle: GET /v1/exchanges/{id}/evidence (a party's token).`

class EvidenceUsage extends Error {}

function readJsonFile(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown
  } catch (err) {
    throw new EvidenceUsage(`${what} ${path}: ${(err as Error).message}`)
  }
}

async function verify(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args, allowPositionals: true, strict: true,
    options: { jwks: { type: 'string' }, json: { type: 'boolean', default: false }, ...WITNESS_OPTIONS },
  })
  if (positionals.length !== 1) throw new EvidenceUsage('usage: leix evidence verify BUNDLE.json [--jwks FILE] [--witness-key K ... --witness-threshold k]')
  const bundle = readJsonFile(positionals[0] as string, 'bundle')
  let jwks: { keys: JWK[] } | undefined
  if (values.jwks) {
    const v = readJsonFile(values.jwks, '--jwks') as { keys?: JWK[] } & JWK
    jwks = Array.isArray(v.keys) ? { keys: v.keys } : { keys: [v] }
  }
  const policy = values['witness-key'] || values['witness-threshold'] ? witnessPolicyFromArgs(values) : undefined
  const result = await verifyEvidence(bundle, { ...(jwks ? { jwks } : {}), ...(policy ? { policy } : {}) })
  if (values.json) process.stdout.write(JSON.stringify(result) + '\n')
  if (!result.ok) {
    if (!values.json) process.stderr.write(`FAILED ${result.check} at ${result.at}: ${result.reason}\n`)
    return EXIT.failed
  }
  if (!values.json) {
    process.stdout.write(
      `OK: exchange ${result.exchangeId} for ${result.party}: ${result.messages} receipt(s), ${result.jwsVerified} JWS(s) matching their receipts, ` +
        `${result.events} event(s) included in tree size ${result.treeSize}` +
        (policy ? `; witnessed by ${result.witnesses.join(', ') || 'none'} (policy ${policy.threshold} of ${policy.keys.length})` : '; no witness policy given') +
        (result.keysFromBundle ? '; broker keys taken from the bundle itself (pass --jwks to check their origin)' : '') + '\n',
    )
  }
  return EXIT.ok
}

/** `leix evidence ...`: exit 0 ok, 1 failed, 2 usage. */
export async function evidenceCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args
  try {
    switch (sub) {
      case 'verify': return await verify(rest)
      case undefined:
      case 'help':
      case '--help':
        process.stdout.write(HELP + '\n')
        return sub === undefined ? EXIT.usage : EXIT.ok
      default:
        throw new EvidenceUsage(`unknown evidence command ${sub}; see leix evidence help`)
    }
  } catch (err) {
    if (err instanceof EvidenceUsage || err instanceof WitnessArgError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`leix evidence: ${(err as Error).message}\n`)
      return EXIT.usage
    }
    throw err
  }
}
