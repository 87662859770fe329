// README's recipient walkthrough and its curl/jq/openssl section, run as written (the fenced blocks
// marked `sh leix-test`), with bash against leix on loopback. `npx leix` runs this checkout's
// bin/leix.js. Blocks run in order in one directory, their variables carried from one to the next;
// before each block the audit log is sealed, as the sealer would have done meanwhile.
import t from 'tap'
import { execFile, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { systemClock, type Clock } from '../../src/config/clock.ts'
import { buildTestApp } from '../helpers.ts'
import { childEnv, NO_COVERAGE } from '../../scripts/chaos/services.ts'

// About fifteen `leix` processes, each compiling the sources: slow on a loaded machine.
t.setTimeout(600_000)

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
const blocks = [...readme.matchAll(/^```sh leix-test\n([\s\S]*?)^```$/gm)].map((m) => m[1] as string)
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`], { env: childEnv() }).status === 0

t.test('README has the blocks this test runs', async (t) => {
  t.ok(blocks.length >= 3, `${blocks.length} blocks marked sh leix-test`)
  t.ok(blocks.some((b) => b.includes('openssl pkeyutl -sign')), 'the curl/openssl section is among them')
})

t.test('the README snippets run against leix', { skip: has('openssl') && has('jq') && has('curl') ? false : 'needs openssl, jq and curl' }, async (t) => {
  const { app, services } = await buildTestApp<Clock>(t, { clock: systemClock })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const dir = mkdtempSync(join(tmpdir(), 'leix-readme-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  symlinkSync(join(ROOT, 'config'), join(dir, 'config'))
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, LEIX_URL: url, LEIX_DEV_KEYS: 'true', ...NO_COVERAGE }
  const prelude = [
    'set -euo pipefail',
    `npx () { if [ "$1" = leix ]; then shift; node ${JSON.stringify(join(ROOT, 'bin/leix.js'))} "$@"; else command npx "$@"; fi; }`,
    '[ -f state.sh ] && . ./state.sh',
    'set -a',
  ].join('\n')
  // What the walkthrough's first half leaves behind: a request sent by AL-ASP, its answer.json.
  const setup = 'npx leix example --from AL-ASP --to RS-MUP > message.json\n' +
    'npx leix send --key config/dev/agencies/AL-ASP.DEV-ONLY.private.jwk.json message.json --fresh --save-jws sent.jws > answer.json\n'
  for (const [i, block] of [setup, ...blocks].entries()) {
    await services.audit.sealOnce()
    writeFileSync(join(dir, `block-${i}.sh`), `${prelude}\n${block}\nexport -p > state.sh\n`)
    let out = ''
    try {
      // Asynchronously: leix answers from this process meanwhile.
      out = (await promisify(execFile)('bash', [`block-${i}.sh`], { cwd: dir, env, encoding: 'utf8' })).stdout
      t.pass(`block ${i} ran`)
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string }
      t.fail(`block ${i} exited ${e.code}`, { stdout: e.stdout, stderr: e.stderr, block })
      return
    }
    if (block.includes('openssl pkeyutl -sign')) {
      t.match(out, /"status":"accepted"/, 'submitted with curl, signed with openssl')
      t.match(out, /receipt covers the JWS sent/)
      t.match(out, /"AL-ASP"\n"acknowledged"/, 'read and acknowledged with curl')
    }
    if (block.includes('leix inbox --save')) t.match(out, /receipt valid/)
    if (block.includes('leix proof')) t.match(out, /proof valid: seq \d+/)
  }
})
