// `leix keys generate | register | rotate`: an agency's signing keys and the directory entry of
// their public half; the broker's key ring.
import { randomUUID } from 'node:crypto'
import { renameSync, writeFileSync } from 'node:fs'
import type * as jose from 'jose'
import { generateKeyPair, keyRingOf, publicJwkOf, rotateKeyRing, signingKeyFromRing, type BrokerKeyRing } from '../../config/keys.ts'
import { EXIT, UsageError, command, type CommandGroup } from '../command.ts'
import { readJson } from '../files.ts'

const generate = command({
  name: 'generate',
  summary: 'new signing key: private JWK (to FILE or stdout) and public JWKS entry',
  options: {
    agency: { type: 'string', value: 'ID', required: true, description: 'the agency the key signs for' },
    kid: { type: 'string', value: 'KID', description: 'the key id (default: <agency>-<date>-<random>)' },
    alg: { type: 'string', choices: ['EdDSA', 'ES256'], default: 'EdDSA', description: 'the signature algorithm' },
    out: { type: 'string', value: 'FILE', description: 'write the private JWK to FILE (mode 600) and print only the public JWKS' },
  },
  async run ({ values }, io) {
    const kid = values.kid ?? `${values.agency}-${new Date().toISOString().slice(0, 10)}-${randomUUID().slice(0, 8)}`
    const { privateJwk, publicJwk } = await generateKeyPair(kid, values.alg)
    if (values.out) {
      writeFileSync(values.out, JSON.stringify(privateJwk, null, 2) + '\n', { mode: 0o600 })
      io.stderr.write(`private key written to ${values.out} (keep it secret)\n`)
      io.stdout.write(JSON.stringify({ keys: [publicJwk] }, null, 2) + '\n')
    } else {
      io.stdout.write(JSON.stringify({ private: privateJwk, jwks: { keys: [publicJwk] } }, null, 2) + '\n')
    }
    return EXIT.ok
  },
})

interface DirectoryDocument {
  agencies: { id: string; jwks: { keys: jose.JWK[] } }[]
}

const register = command({
  name: 'register',
  summary: 'add a public JWK to an agency in the directory file (then reload: SIGHUP or the admin call)',
  options: {
    agency: { type: 'string', value: 'ID', required: true, description: 'the agency whose key it is' },
    public: { type: 'string', value: 'FILE', required: true, description: 'the public JWK, or a JWKS holding it (the output of keys generate --out)' },
    directory: { type: 'string', value: 'FILE', env: 'LEIX_DIRECTORY', default: 'config/directory.sample.json', description: 'the directory file to change' },
  },
  async run ({ values }, io) {
    const path = values.directory
    const doc = readJson(path, 'directory') as DirectoryDocument
    const agency = doc.agencies.find((a) => a.id === values.agency)
    if (!agency) throw new UsageError(`agency ${values.agency} is not in ${path}`)
    const given = readJson(values.public, 'public key') as { keys?: jose.JWK[] } & jose.JWK
    const jwk = publicJwkOf(given.keys?.[0] ?? given)
    if (!jwk.kid) throw new UsageError('the public key has no kid')
    if (doc.agencies.some((a) => a.jwks.keys.some((k) => k.kid === jwk.kid))) throw new UsageError(`kid ${jwk.kid} is already registered`)
    agency.jwks.keys.push(jwk)
    // Refuses a document leix would not load, before writing it.
    const { buildDirectory } = await import('../../directory/load.ts')
    buildDirectory(structuredClone(doc), { source: path, allowInsecureLoopbackWebhooks: true })
    writeFileSync(path, JSON.stringify(doc, null, 2) + '\n')
    io.stdout.write(`registered ${jwk.kid} for ${values.agency} in ${path}; reload leix to load it (SIGHUP or POST /v1/admin/directory/reload)\n`)
    return EXIT.ok
  },
})

const rotate = command({
  name: 'rotate',
  summary: "new broker signing key: the key ring's active key is retired (still published, so what it signed verifies)",
  description: 'Then reload every node: SIGHUP, or POST /v1/admin/directory/reload on each (README "Key management").',
  options: {
    key: { type: 'string', value: 'FILE', env: 'LEIX_BROKER_KEY', required: true, description: 'the broker key ring (a single private JWK becomes a ring)' },
    kid: { type: 'string', value: 'KID', description: 'the new key id (default: broker-<date>-<random>)' },
  },
  async run ({ values }, io) {
    const path = values.key
    const before = keyRingOf(readJson(path, 'broker key') as BrokerKeyRing)
    // An unreadable ring is refused before anything is written.
    signingKeyFromRing(before, path)
    const kid = values.kid ?? `broker-${new Date().toISOString().slice(0, 10)}-${randomUUID().slice(0, 8)}`
    const { privateJwk } = await generateKeyPair(kid, 'EdDSA')
    const ring = rotateKeyRing(before, privateJwk, new Date())
    signingKeyFromRing(ring, path)
    // Whole or not at all: a node reloading meanwhile reads the old ring or the new one.
    const temporary = `${path}.${randomUUID().slice(0, 8)}.tmp`
    writeFileSync(temporary, JSON.stringify(ring, null, 2) + '\n', { mode: 0o600 })
    renameSync(temporary, path)
    io.stdout.write(`active broker key ${kid}; retired ${before.active} (published until the ring drops it)\n`)
    io.stderr.write('reload every node: kill -HUP <pid>, or POST /v1/admin/directory/reload on each\n')
    return EXIT.ok
  },
})

export const keys: CommandGroup = { name: 'keys', summary: "agencies' signing keys and the broker's key ring", subcommands: [generate, register, rotate] }
