// The client and the CLI over HTTPS with a private CA, and with mutual TLS when leix requires a
// client certificate: --ca trusts the CA ("self-signed certificate in certificate chain" otherwise),
// --cert/--cert-key present the agency system's certificate.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LeixApiError, LeixClient, LeixConnectionError } from '../../src/client/index.ts'
import { start } from '../../src/server.ts'
import { createTestDatabase, testConfig } from '../helpers.ts'
import { leix } from '../cli/run.ts'

const dir = mkdtempSync(join(tmpdir(), 'leix-client-tls-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const f = (name: string) => join(dir, name)
const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' })
const ecKey = (name: string) => ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f(name))
// A CA for the broker and the agency systems; a server certificate; RS-MUP's system's client certificate.
ecKey('ca.key')
ssl('req', '-x509', '-new', '-key', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=leix-test-ca')
const issue = (name: string, cn: string, ext: string) => {
  ecKey(`${name}.key`)
  writeFileSync(f(`${name}.ext`), ext)
  ssl('req', '-new', '-key', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`)
  ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '1', '-extfile', f(`${name}.ext`))
}
issue('server', 'localhost', 'subjectAltName=IP:127.0.0.1\n')
issue('client', 'rs-mup-system', 'extendedKeyUsage=clientAuth\n')
const directory = JSON.parse(readFileSync(new URL('../../config/directory.sample.json', import.meta.url), 'utf8'))
directory.agencies.find((a: { id: string }) => a.id === 'RS-MUP').tlsClientSubjects = ['rs-mup-system']
writeFileSync(f('directory.json'), JSON.stringify(directory))

const started = await start(testConfig(await createTestDatabase(t), {
  port: 0, tlsCertPath: f('server.pem'), tlsKeyPath: f('server.key'), tlsClientCaPath: f('ca.pem'), tlsClientCert: 'required',
  directoryPath: f('directory.json'), queuePrefix: `leixtest-client-tls-${process.pid}`,
}))
t.teardown(() => started.stop())
const url = `https://127.0.0.1:${(started.app!.server.address() as { port: number }).port}`
const token = started.app!.jwt.sign({ sub: 'rs-system', agency: 'RS-MUP', roles: ['system'] })
const pem = (name: string) => readFileSync(f(name), 'utf8')

t.test('the client: the CA trusted with ca, the agency system identified with cert and key', async (t) => {
  await t.rejects(new LeixClient({ baseUrl: url }).jwks(), LeixConnectionError, 'the private CA is not trusted by default')
  const noCert = new LeixClient({ baseUrl: url, token, ca: pem('ca.pem') })
  t.teardown(() => noCert.close())
  const refused = await noCert.inbox().catch((err: unknown) => err)
  t.equal((refused as LeixApiError).status, 401, 'leix requires a client certificate')
  const mutual = new LeixClient({ baseUrl: url, token, ca: pem('ca.pem'), cert: pem('client.pem'), key: pem('client.key') })
  t.teardown(() => mutual.close())
  t.same((await mutual.inbox()).items, [])
})

t.test('the CLI: --ca, --cert and --cert-key (or LEIX_CA, LEIX_CERT, LEIX_CERT_KEY)', async (t) => {
  const untrusted = await leix(['inbox', '--url', url], { LEIX_TOKEN: token })
  t.equal(untrusted.code, 2)
  t.match(untrusted.stderr, /cannot reach https:\/\/127\.0\.0\.1:\d+\/v1\/inbox: .*certificate.* \(trust the CA of leix's certificate with --ca FILE\)/i)
  const noCert = await leix(['inbox', '--url', url, '--ca', f('ca.pem')], { LEIX_TOKEN: token })
  t.equal(noCert.code, 1)
  t.match(noCert.stderr, /error 401 unauthorized: .*client certificate is required/)
  const ok = await leix(['inbox', '--url', url, '--ca', f('ca.pem'), '--cert', f('client.pem'), '--cert-key', f('client.key')], { LEIX_TOKEN: token })
  t.equal(ok.code, 0, ok.stderr)
  t.equal(ok.stdout, 'inbox empty\n')
  const env = await leix(['notifications', '--url', url], { LEIX_TOKEN: token, LEIX_CA: f('ca.pem'), LEIX_CERT: f('client.pem'), LEIX_CERT_KEY: f('client.key') })
  t.equal(env.code, 0, env.stderr)
  const half = await leix(['inbox', '--url', url, '--cert', f('client.pem')], { LEIX_TOKEN: token })
  t.equal(half.code, 2)
  t.match(half.stderr, /--cert and --cert-key go together/)
})
