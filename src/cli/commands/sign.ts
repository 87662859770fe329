// `leix sign`: a message as the compact JWS leix accepts.
import { randomUUID } from 'node:crypto'
import * as jose from 'jose'
import { readJwkFile, signingKeyFromJwk } from '../../config/keys.ts'
import { MESSAGE_TYP } from '../../intake/verify.ts'
import { EXIT, command, type OptionSpec, type Positional } from '../command.ts'
import { readJson } from '../files.ts'

export const SIGNING_OPTIONS = {
  key: { type: 'string', value: 'FILE', required: true, description: "the agency's private JWK" },
  fresh: { type: 'boolean', description: 'set a new id and createdAt = now' },
} as const satisfies Record<string, OptionSpec>

export const MESSAGE_POSITIONAL: Positional = { name: 'MESSAGE.json', description: 'the message (see leix example)' }

export async function signMessage (keyPath: string, messagePath: string, fresh: boolean): Promise<string> {
  const key = signingKeyFromJwk(readJwkFile(keyPath, '--key'), '--key')
  const message = readJson(messagePath, 'message') as Record<string, unknown>
  if (fresh) {
    message.id = randomUUID()
    message.createdAt = new Date().toISOString()
  }
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(message)))
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: MESSAGE_TYP })
    .sign(key.privateKey)
}

export const sign = command({
  name: 'sign',
  summary: 'print the compact JWS; --fresh sets a new id and createdAt=now',
  positionals: [MESSAGE_POSITIONAL],
  options: SIGNING_OPTIONS,
  async run ({ values, positionals }, io) {
    io.stdout.write((await signMessage(values.key, positionals[0] as string, values.fresh)) + '\n')
    return EXIT.ok
  },
})
