// Writes the committed DEVELOPMENT keys under config/dev/ and their public halves into the sample
// directory. Never use these anywhere but a developer's machine: the private halves are public.
import { writeFileSync, readFileSync } from 'node:fs'
import { generateKeyPair } from '../src/config/keys.ts'

const dir = new URL('../config/dev/', import.meta.url)
const write = (name: string, v: unknown) => writeFileSync(new URL(name, dir), JSON.stringify(v, null, 2) + '\n')

const broker = await generateKeyPair('leix-broker-dev-1')
write('broker.DEV-ONLY.private.jwk.json', broker.privateJwk)
const issuer = await generateKeyPair('leix-token-issuer-dev-1')
write('token-issuer.DEV-ONLY.private.jwk.json', issuer.privateJwk)
write('token-issuer.DEV-ONLY.public.jwk.json', issuer.publicJwk)

const dirPath = new URL('../config/directory.sample.json', import.meta.url)
const directory = JSON.parse(readFileSync(dirPath, 'utf8'))
for (const agency of directory.agencies) {
  const kid = `${agency.id}-dev-1`
  const pair = await generateKeyPair(kid)
  write(`agencies/${agency.id}.DEV-ONLY.private.jwk.json`, pair.privateJwk)
  agency.jwks = { keys: [pair.publicJwk] }
}
writeFileSync(dirPath, JSON.stringify(directory, null, 2) + '\n')
