// `leix witness keygen | log-vkey | run`: an independent witness of the log, run by another party.
import { generateKeyPairSync } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import type { JWK } from 'jose'
import { formatVkey, isKeyName, logNoteKeysFromJwks, parseVkey, type NoteKey } from '../../audit/note.ts'
import { EXIT, UsageError, command, type CommandGroup } from '../command.ts'
import { readJson } from '../files.ts'
import { loadWitnessKey, runWitnessRound, witnessVkey, type WitnessConfig } from '../witness.ts'

const keygen = command({
  name: 'keygen',
  summary: 'new Ed25519 witness key: the private JWK (to FILE) and the cosignature vkey',
  description: `Writes the private key (JWK, kid = NAME) to FILE (mode 600) and prints the witness's
cosignature vkey, which the leix operator adds to LEIX_WITNESSES and auditors pass to
--witness-key. NAME: a schema-less URL such as witness.rs-mup.example/leix (no spaces, no +).`,
  options: {
    name: { type: 'string', value: 'NAME', required: true, description: 'the witness name (the key id)' },
    out: { type: 'string', value: 'FILE', description: 'write the private JWK to FILE, never overwriting one, and print only the vkey' },
  },
  async run ({ values }, io) {
    if (!isKeyName(values.name)) throw new UsageError('keygen needs --name NAME (no spaces, no +)')
    const { privateKey } = generateKeyPairSync('ed25519')
    const jwk = { ...(privateKey.export({ format: 'jwk' }) as JWK), kid: values.name, alg: 'EdDSA', use: 'sig' }
    const vkey = witnessVkey({ name: values.name, privateKey })
    if (values.out) {
      try {
        writeFileSync(values.out, JSON.stringify(jwk, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
      } catch (err) {
        throw new UsageError(`--out ${values.out}: ${(err as Error).message} (an existing key is never overwritten)`)
      }
      io.stderr.write(`witness key written to ${values.out} (keep it secret); its vkey:\n`)
      io.stdout.write(vkey + '\n')
    } else {
      io.stdout.write(JSON.stringify({ private: jwk, vkey }, null, 2) + '\n')
    }
    return EXIT.ok
  },
})

const logVkey = command({
  name: 'log-vkey',
  summary: "the broker's note vkey(s) for ORIGIN, derived from its JWKS (compare with GET /v1/witness/log-key)",
  options: {
    jwks: { type: 'string', value: 'BROKER-JWKS.json', required: true, description: "the broker's public keys, obtained out of band" },
    origin: { type: 'string', value: 'ORIGIN', required: true, description: "the log's origin (LEIX_ORIGIN of the broker)" },
  },
  async run ({ values }, io) {
    const doc = readJson(values.jwks, '--jwks') as { keys?: JWK[] }
    const keys = logNoteKeysFromJwks(values.origin, { keys: doc.keys ?? [] })
    if (keys.length === 0) throw new UsageError(`${values.jwks} holds no Ed25519 key`)
    for (const k of keys) io.stdout.write(formatVkey(k) + '\n')
    return EXIT.ok
  },
})

const run = command({
  name: 'run',
  summary: 'cosign every new checkpoint the log proves consistent; refuse and report an alarm otherwise',
  description: `Every interval (default 10 s): fetch the add-checkpoint body for the size last cosigned
(state FILE, created on first run), verify the broker signature and the consistency proof,
save the new state, send the cosignature. On an inconsistency: refuse, report a signed alarm,
exit 1 with --once. One process per state file.`,
  options: {
    url: { type: 'string', value: 'URL', env: 'LEIX_URL', required: true, description: "leix's base URL" },
    key: { type: 'string', value: 'FILE', required: true, description: "the witness's private JWK (from keygen)" },
    state: { type: 'string', value: 'FILE', required: true, description: 'what the witness last cosigned (created on first run)' },
    'log-vkey': { type: 'string', multiple: true, value: 'VKEY', required: true, description: "the log's note key (from log-vkey); repeat for several" },
    interval: { type: 'string', value: 'SECONDS', default: '10', description: 'seconds between rounds' },
    once: { type: 'boolean', description: 'one round; exit 0 when it cosigned, 1 otherwise' },
  },
  async run ({ values }, io) {
    const interval = Number(values.interval)
    if (!Number.isFinite(interval) || interval < 1) throw new UsageError('--interval must be at least 1 second')
    const logs = new Map<string, NoteKey[]>()
    for (const v of values['log-vkey']) {
      let key: NoteKey
      try {
        key = parseVkey(v)
      } catch (err) {
        throw new UsageError(`--log-vkey: ${(err as Error).message}`)
      }
      logs.set(key.name, [...(logs.get(key.name) ?? []), key])
    }
    const cfg: WitnessConfig = { url: values.url, identity: loadWitnessKey(values.key), logs, statePath: values.state }
    io.stderr.write(`witness ${cfg.identity.name} (${witnessVkey(cfg.identity)}) watching ${values.url}\n`)
    for (;;) {
      const r = await runWitnessRound(cfg)
      const at = new Date().toISOString()
      if (r.status === 'cosigned') io.stdout.write(`${at} cosigned size ${r.treeSize}${r.previous ? ` (consistent with ${r.previous})` : ''}\n`)
      else if (r.status === 'alarm') io.stderr.write(`${at} ALARM${r.reported ? ' (reported to leix)' : ''}: ${r.reason}\n`)
      else io.stderr.write(`${at} ${r.reason}\n`)
      if (values.once) return r.status === 'cosigned' ? EXIT.ok : EXIT.failed
      await new Promise((resolve) => setTimeout(resolve, interval * 1000))
    }
  },
})

export const witness: CommandGroup = { name: 'witness', summary: 'witness a leix audit log', subcommands: [keygen, logVkey, run], implicit: 'run' }
