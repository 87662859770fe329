// The command framework: help is generated from each command's declarations and lists everything
// it accepts; nothing else is accepted; usage errors show the command's usage; importing the CLI
// runs nothing.
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { isGroup, listOf, parseCommandArgs, synopsis, type Command } from '../../src/cli/command.ts'
import { leix } from './run.ts'

// First, before anything else of the CLI is loaded in this process: the import itself.
const written: string[] = []
const writes = { stdout: process.stdout.write, stderr: process.stderr.write }
const exitCode = process.exitCode
process.stdout.write = ((chunk: string) => written.push(String(chunk)) > 0) as typeof process.stdout.write
process.stderr.write = ((chunk: string) => written.push(String(chunk)) > 0) as typeof process.stderr.write
const cli = await import('../../src/cli/main.ts')
await new Promise((resolve) => setImmediate(resolve))
process.stdout.write = writes.stdout
process.stderr.write = writes.stderr

t.test('importing src/cli/main.ts runs nothing', async (t) => {
  t.same(written, [], 'prints nothing')
  t.equal(process.exitCode, exitCode, 'sets no exit code')
})

const commands = cli.runnableCommands()

t.test('the commands that exist', async (t) => {
  t.same(commands.map((c) => c.path), [
    'serve', 'gateway', 'worker', 'migrate', 'db roles', 'health',
    'keys generate', 'keys register', 'keys rotate', 'token',
    'agencies', 'example', 'sign', 'send', 'status', 'lineage', 'exchanges', 'receipt verify', 'report',
    'inbox', 'ack', 'reply', 'notifications', 'delivery verify',
    'audit verify', 'audit export', 'audit self-check', 'audit check', 'witness keygen', 'witness log-vkey', 'witness run', 'evidence verify',
    'proof',
  ])
})

t.test('leix --help lists every command with every option it declares', async (t) => {
  const help = await leix(['--help'])
  t.equal(help.code, 0)
  const top = help.stdout.replace(/\n {4}/g, ' ') // continuation lines of a long synopsis
  for (const { path, command } of commands) {
    const line = top.split('\n').find((l) => l.startsWith(`  ${path} `) || l === `  ${path}` || l.startsWith(`  ${path}  `))
    t.ok(line, `${path} is listed`)
    for (const name of Object.keys(command.options)) t.match(line, `--${name}`, `${path} --${name}`)
  }
  const bare = await leix([])
  t.equal(bare.code, 2, 'leix alone shows the help and exits 2')
  t.equal(bare.stdout, help.stdout)
})

t.test('leix <command> --help lists each declared option and positional, with the allowed values', async (t) => {
  for (const { path, command } of commands) {
    const r = await leix([...path.split(' '), '--help'])
    t.equal(r.code, 0, `${path} --help`)
    t.match(r.stdout, `Usage: leix ${path}`)
    t.match(r.stdout, command.summary)
    for (const p of command.positionals ?? []) t.match(r.stdout, p.name, `${path} ${p.name}`)
    for (const [name, spec] of Object.entries(command.options)) {
      t.match(r.stdout, new RegExp(`^  (-\\w, )?--${name}\\b.*(\\n +)?${escape(spec.description)}`, 'm'), `${path} --${name} is described`)
      if (spec.choices) t.match(r.stdout, `one of ${listOf(spec.choices, 'or')}`, `${path} --${name} lists its values`)
    }
    t.same(await leix(['help', ...path.split(' ')]), r, `leix help ${path} is the same`)
  }
  for (const group of cli.COMMANDS.filter(isGroup)) {
    const r = await leix([group.name, '--help'])
    t.equal(r.code, 0)
    for (const c of group.subcommands) t.match(r.stdout, `leix ${group.name} ${c.name}`, `${group.name} --help lists ${c.name}`)
    t.equal((await leix([group.name])).code, 2, `leix ${group.name} alone exits 2`)
  }
})

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** A value each option accepts (its first choice, or a word). */
function argvFor (command: Command): string[] {
  return [
    ...Object.entries(command.options).flatMap(([name, spec]) => (spec.type === 'boolean' ? [`--${name}`] : [`--${name}`, spec.choices?.[0] ?? 'x'])),
    ...(command.positionals ?? []).map(() => 'p'),
  ]
}

t.test('every declared option parses; anything undeclared is a usage error with the usage', async (t) => {
  for (const { path, command } of commands) {
    const { values, positionals } = parseCommandArgs(path, command, argvFor(command), {})
    t.same(Object.keys(values).sort(), Object.keys(command.options).sort(), `${path}: every option has a value`)
    t.equal(positionals.length, command.positionals?.length ?? 0)
    const r = await leix([...path.split(' '), '--not-declared'])
    t.equal(r.code, 2, `${path} --not-declared`)
    t.match(r.stderr, /^leix: Unknown option '--not-declared'/)
    t.match(r.stderr, `usage: leix ${path}`, 'the usage follows')
    t.equal(r.stdout, '')
  }
})

t.test('only the framework parses arguments and reads the environment', async (t) => {
  const dir = new URL('../../src/cli/commands/', import.meta.url)
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'))
  t.ok(files.length >= 10)
  for (const f of files) {
    const source = readFileSync(new URL(f, dir), 'utf8')
    t.notMatch(source, /parseArgs|process\.(argv|env|stdout|stderr)/, `${f} gets its arguments and io from the framework`)
  }
})

t.test('enum-valued options: a value outside the list is refused, naming the allowed ones', async (t) => {
  const kind = await leix(['example', '--kind', 'gossip'])
  t.equal(kind.code, 2)
  t.match(kind.stderr, /^leix: --kind must be request, response, refusal, clarification, delay-notice, spontaneous, correction, consent-request or consent\nusage: leix example /)
  const alg = await leix(['keys', 'generate', '--agency', 'AL-ASP', '--alg', 'RS256'])
  t.match(alg.stderr, /--alg must be EdDSA or ES256/)
  const status = await leix(['exchanges', '--status', 'lost', '--token', 't'])
  t.equal(status.code, 2)
  t.match(status.stderr, /--status must be held, accepted, .* or closed/)
})

t.test('required options and positionals are named in the usage error', async (t) => {
  const sign = await leix(['sign', 'message.json'])
  t.equal(sign.code, 2)
  t.match(sign.stderr, /^leix: sign needs --key FILE and one MESSAGE\.json\nusage: leix sign MESSAGE\.json --key FILE \[--fresh\]/)
  const extra = await leix(['status', 'a', 'b'])
  t.match(extra.stderr, /status needs one EXCHANGE_ID/)
  const none = await leix(['migrate', 'now'])
  t.equal(none.code, 2)
  t.match(none.stderr, /migrate takes no arguments, got now/)
  const unknown = await leix(['audit', 'frobnicate'])
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /unknown audit command frobnicate.*\nusage: leix audit verify /)
  const implicit = await leix(['witness', '--once'])
  t.equal(implicit.code, 2, 'leix witness --options is leix witness run')
  t.match(implicit.stderr, /^leix: witness run needs --url URL, --key FILE, --state FILE and --log-vkey VKEY \.\.\./)
})

t.test('an environment variable gives an option its value; the option wins', async (t) => {
  const r = await leix(['status', 'x', '--url', 'http://127.0.0.1:1'], { LEIX_TOKEN: 't', LEIX_URL: 'http://127.0.0.1:2' })
  t.equal(r.code, 2)
  t.match(r.stderr, /cannot reach http:\/\/127\.0\.0\.1:1\//)
  const noToken = await leix(['status', 'x'])
  t.match(noToken.stderr, /status needs --token or LEIX_TOKEN/)
})

t.test("README's command list is the generated synopsis of every command", async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const section = readme.slice(readme.indexOf('## The `leix` command'), readme.indexOf('## Development'))
  const listed = section.split('```')[1]?.trim().split('\n')
  t.same(listed, commands.map(({ path, command }) => `leix ${synopsis(path, command)}`))
})
