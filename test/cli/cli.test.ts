// The five-minute walkthrough of README.md against a real `leix serve` process on a real port:
// generate a key, register it, start leix, sign and send, read the status, verify the receipt.
// The commands run in this process through main(); serve, and one smoke test of bin/leix.js,
// run as processes, since their lifecycle is the point.
import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createTestDatabase, dropKeys, freePort, REDIS_URL, ROOT } from '../helpers.ts'
import { leix as run, type Outcome } from './run.ts'
import { childEnv } from '../../scripts/chaos/services.ts'

const LEIX = new URL('bin/leix.js', ROOT).pathname

const dir = mkdtempSync(join(tmpdir(), 'leix-cli-'))
const databaseUrl = await createTestDatabase(t)
const port = await freePort()
const url = `http://127.0.0.1:${port}`
const env = {
  ...childEnv(),
  DATABASE_URL: databaseUrl,
  REDIS_URL,
  PORT: String(port),
  LEIX_METRICS_PORT: '0',
  LEIX_DIRECTORY: join(dir, 'directory.json'),
  LEIX_DEV_KEYS: 'true',
  LEIX_QUEUE_PREFIX: `leixcli-${port}`,
  LOG_LEVEL: 'warn',
  LEIX_URL: url,
}
copyFileSync(new URL('config/directory.sample.json', ROOT), env.LEIX_DIRECTORY)

/** `leix args...` with this test's environment; file arguments are under `dir`. */
async function leix (args: string[], extraEnv: Record<string, string> = {}): Promise<Outcome> {
  return await run(args, { ...env, ...extraEnv })
}
const at = (name: string): string => join(dir, name)

t.test('bin/leix.js runs main() and exits with its code', async (t) => {
  // `leix` alone: the help on stdout, exit 2 (usage).
  const bare = await promisify(execFile)(process.execPath, [LEIX], { env, cwd: dir }).then(() => undefined, (err: unknown) => err as Outcome)
  t.equal(bare?.code, 2)
  t.match(bare?.stdout, /receipt verify/)
})

t.test('usage and configuration errors exit 2 with a message that names the problem', async (t) => {
  const unknown = await leix(['frobnicate'])
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /unknown command frobnicate/)
  const badPort = await leix(['serve'], { PORT: 'eighty' })
  t.equal(badPort.code, 2)
  t.match(badPort.stderr, /port \(PORT\)/, 'names the field and its variable')
  const noKeys = await leix(['serve'], { LEIX_DEV_KEYS: 'false', LEIX_TOKEN_AUDIENCE: 'https://leix.example' })
  t.equal(noKeys.code, 2)
  t.match(noKeys.stderr, /LEIX_BROKER_KEY/)
  writeFileSync(join(dir, 'broken.json'), JSON.stringify({ agencies: [], instruments: [], euMemberStates: [] }))
  const badDirectory = await leix(['serve'], { LEIX_DIRECTORY: join(dir, 'broken.json') })
  t.equal(badDirectory.code, 2)
  t.match(badDirectory.stderr, /\/agencies: must NOT have fewer than 1 items/)
  const help = await leix(['help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /receipt verify/)
})

t.test('the walkthrough', async (t) => {
  // 1. A new key for AL-ASP, registered in the directory.
  const generated = await leix(['keys', 'generate', '--agency', 'AL-ASP', '--kid', 'AL-ASP-walkthrough', '--out', at('al.private.jwk.json')])
  t.equal(generated.code, 0, generated.stderr)
  writeFileSync(join(dir, 'al.public.json'), generated.stdout)
  t.notMatch(generated.stdout, /"d"/, 'only the public half is printed')
  const registered = await leix(['keys', 'register', '--agency', 'AL-ASP', '--public', at('al.public.json'), '--directory', env.LEIX_DIRECTORY])
  t.equal(registered.code, 0, registered.stderr)
  const again = await leix(['keys', 'register', '--agency', 'AL-ASP', '--public', at('al.public.json'), '--directory', env.LEIX_DIRECTORY])
  t.equal(again.code, 2, 'a kid is registered once')

  // 2. leix itself, on a real port: the migrations as the owner role (default: DATABASE_URL with
  //    the user leix_owner; the roles exist, see test/store/passwords.test.ts for `leix db roles`),
  //    then serve runs as the app and sealer roles.
  const migrated = await leix(['migrate'])
  t.equal(migrated.code, 0, migrated.stderr)
  t.match(migrated.stdout, /applied: 001-exchanges-messages-audit, .*005-least-privilege/)
  const server = spawn(process.execPath, [LEIX, 'serve'], { env, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  let serverErr = ''
  server.stderr.on('data', (d) => { serverErr += d })
  t.teardown(async () => {
    if (server.exitCode === null) {
      server.kill('SIGKILL')
      await once(server, 'exit')
    }
    await dropKeys(REDIS_URL, env.LEIX_QUEUE_PREFIX)
  })
  let ready = false
  for (let i = 0; i < 100 && !ready; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200))
    ready = await fetch(`${url}/health/ready`).then((r) => r.ok, () => false)
  }
  t.ok(ready, `leix serve became ready ${serverErr}`)

  // 3. Sign and send an example message with the new key.
  const example = await leix(['example', '--from', 'AL-ASP', '--to', 'RS-MUP'])
  t.equal(example.code, 0)
  writeFileSync(join(dir, 'message.json'), example.stdout)
  const signed = await leix(['sign', '--key', at('al.private.jwk.json'), at('message.json'), '--fresh'])
  t.match(signed.stdout.trim(), /^[\w-]+\.[\w-]+\.[\w-]+$/)
  const sent = await leix(['send', '--key', at('al.private.jwk.json'), at('message.json'), '--fresh', '--save-jws', at('sent.jws')])
  t.equal(sent.code, 0, sent.stderr)
  const answer = JSON.parse(sent.stdout)
  t.equal(answer.status, 'accepted')
  writeFileSync(join(dir, 'answer.json'), sent.stdout)

  // 4. Status, with a token for a liaison officer of either agency.
  const token = (await leix(['token', '--agency', 'RS-MUP', '--sub', 'rs-officer-7'])).stdout.trim()
  const status = await leix(['status', answer.exchangeId, '--token', token])
  t.equal(status.code, 0, status.stderr)
  t.match(status.stdout, /status\s+(accepted|delivered)/)
  t.match(status.stdout, /message\.accepted/)
  const list = await leix(['exchanges', '--direction', 'incoming', '--token', token])
  t.equal(list.code, 0, list.stderr)
  t.match(list.stdout, new RegExp(`${answer.exchangeId}\\s+<- AL-ASP\\s+(accepted|delivered)`), 'the incoming request is listed')
  const none = await leix(['exchanges', '--overdue', '--token', token])
  t.match(none.stdout, /no exchanges/)
  const stranger = (await leix(['token', '--agency', 'ME-UP', '--sub', 'me-1'])).stdout.trim()
  const refused = await leix(['status', answer.exchangeId, '--token', stranger])
  t.equal(refused.code, 1)
  t.match(refused.stderr, /404 not-found/)

  // 5. The receipt verifies against the broker's published keys and covers the bytes sent.
  const verified = await leix(['receipt', 'verify', at('answer.json'), '--jws', at('sent.jws')])
  t.equal(verified.code, 0, verified.stderr)
  t.match(verified.stdout, /receipt valid/)
  writeFileSync(join(dir, 'other.jws'), signed.stdout)
  const mismatch = await leix(['receipt', 'verify', at('answer.json'), '--jws', at('other.jws')])
  t.equal(mismatch.code, 1)
  t.match(mismatch.stderr, /digest-mismatch/)

  // 6. A message the principles refuse: exit 1 and the rule named.
  const bad = JSON.parse(example.stdout)
  bad.legalBasis = { instrument: 'NO-SUCH-TREATY' }
  writeFileSync(join(dir, 'bad.json'), JSON.stringify(bad))
  const rejected = await leix(['send', '--key', at('al.private.jwk.json'), at('bad.json'), '--fresh'])
  t.equal(rejected.code, 1)
  t.match(rejected.stderr, /principle-violation/)
  t.match(rejected.stderr, /L1 \/legalBasis\/instrument/)

  // 7. SIGTERM: leix stops cleanly.
  server.kill('SIGTERM')
  const [code] = (await once(server, 'exit')) as [number | null]
  t.equal(code, 0, 'clean exit on SIGTERM')
  t.equal(readFileSync(join(dir, 'sent.jws'), 'utf8').trim().split('.').length, 3)
})
