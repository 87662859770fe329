// `leix <command>`: finds the command, parses its declared options, runs it and maps errors to
// exit codes. bin/leix.js calls main(); importing this module has no side effect.
import { ConfigError } from '../config/config.ts'
import { DirectoryError } from '../directory/load.ts'
import {
  EXIT, UsageError, commandHelp, groupHelp, isGroup, parseCommandArgs, row, synopsis, wantsHelp, wrap,
  type Command, type CommandGroup, type Entry, type Io,
} from './command.ts'
import { ack } from './commands/ack.ts'
import { agencies } from './commands/agencies.ts'
import { audit } from './commands/audit.ts'
import { db } from './commands/db.ts'
import { delivery } from './commands/delivery.ts'
import { evidence } from './commands/evidence.ts'
import { example } from './commands/example.ts'
import { exchanges } from './commands/exchanges.ts'
import { report } from './commands/report.ts'
import { inbox } from './commands/inbox.ts'
import { keys } from './commands/keys.ts'
import { migrate } from './commands/migrate.ts'
import { notifications } from './commands/notifications.ts'
import { proof } from './commands/proof.ts'
import { receipt } from './commands/receipt.ts'
import { reply } from './commands/reply.ts'
import { send } from './commands/send.ts'
import { gateway, serve, worker } from './commands/serve.ts'
import { sign } from './commands/sign.ts'
import { status } from './commands/status.ts'
import { lineage } from './commands/lineage.ts'
import { health } from './commands/health.ts'
import { token } from './commands/token.ts'
import { witness } from './commands/witness.ts'

/** Every command, in the sections of `leix --help`. */
export const SECTIONS: readonly { title: string; commands: readonly Entry[] }[] = [
  { title: 'Run', commands: [serve, gateway, worker, migrate, db, health] },
  { title: 'Keys and tokens', commands: [keys, token] },
  { title: 'Messages', commands: [agencies, example, sign, send, status, lineage, exchanges, receipt, report] },
  { title: 'Receiving', commands: [inbox, ack, reply, notifications, delivery] },
  { title: 'Audit', commands: [audit, witness, evidence, proof] },
]

export const COMMANDS: readonly Entry[] = SECTIONS.flatMap((s) => s.commands)

/** Every runnable command with its path after `leix` (`status`, `audit verify`). */
export function runnableCommands (): { path: string; command: Command }[] {
  return COMMANDS.flatMap((e) => (isGroup(e) ? e.subcommands.map((c) => ({ path: `${e.name} ${c.name}`, command: c })) : [{ path: e.name, command: e }]))
}

/** `leix --help`, generated from the declarations. */
export function topHelp (): string {
  const lines = ['leix — secure law-enforcement information exchange', '', 'Usage: leix <command> [options]']
  for (const section of SECTIONS) {
    lines.push('', section.title)
    for (const entry of section.commands) {
      const members = isGroup(entry) ? entry.subcommands.map((c) => ({ path: `${entry.name} ${c.name}`, c })) : [{ path: entry.name, c: entry }]
      for (const { path, c } of members) lines.push(row(wrap(synopsis(path, c), 2), c.summary))
    }
  }
  lines.push(
    '',
    'Run leix <command> --help for its options. Environment: see README.md "Configuration".',
    'URL defaults to LEIX_URL or http://127.0.0.1:8080; token defaults to LEIX_TOKEN.',
    'Exit codes: 0 done, 1 the operation failed, 2 usage or configuration error.'
  )
  return lines.join('\n') + '\n'
}

function processIo (): Io {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env }
}

function usageOf (path: string, c: Command): string {
  return `usage: leix ${wrap(synopsis(path, c), 7)}\n(see leix ${path} --help)\n`
}

function groupUsage (g: CommandGroup): string {
  return g.subcommands.map((c) => `usage: leix ${wrap(synopsis(`${g.name} ${c.name}`, c), 7)}\n`).join('') + `(see leix ${g.name} --help)\n`
}

async function runCommand (path: string, c: Command, argv: string[], io: Io): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout.write(commandHelp(path, c))
    return EXIT.ok
  }
  try {
    return await c.run(parseCommandArgs(path, c, argv, io.env), io)
  } catch (err) {
    if (err instanceof UsageError) return usageFailure(io, err, usageOf(path, c))
    throw err
  }
}

/** The message, then the usage of the command it concerns. */
function usageFailure (io: Io, err: UsageError, usage: string): number {
  io.stderr.write(`leix: ${err.message}\n${usage}`)
  return EXIT.usage
}

async function runGroup (g: CommandGroup, argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const sub = name === 'help' ? g.subcommands.find((c) => c.name === rest[0]) : undefined
    io.stdout.write(sub ? commandHelp(`${g.name} ${sub.name}`, sub) : groupHelp(g))
    return name === undefined ? EXIT.usage : EXIT.ok
  }
  const implicit = name.startsWith('--') ? g.subcommands.find((c) => c.name === g.implicit) : undefined
  if (implicit) return await runCommand(`${g.name} ${implicit.name}`, implicit, argv, io)
  const sub = g.subcommands.find((c) => c.name === name)
  if (!sub) return usageFailure(io, new UsageError(`unknown ${g.name} command ${name}; see leix ${g.name} --help`), groupUsage(g))
  return await runCommand(`${g.name} ${sub.name}`, sub, rest, io)
}

async function dispatch (argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const entry = name === 'help' ? COMMANDS.find((e) => e.name === rest[0]) : undefined
    if (entry) return isGroup(entry) ? await runGroup(entry, rest.slice(1).length ? ['help', ...rest.slice(1)] : ['--help'], io) : await runCommand(entry.name, entry, ['--help'], io)
    io.stdout.write(topHelp())
    return name === undefined ? EXIT.usage : EXIT.ok
  }
  const entry = COMMANDS.find((e) => e.name === name)
  if (!entry) throw new UsageError(`unknown command ${name}; see leix help`)
  return isGroup(entry) ? await runGroup(entry, rest, io) : await runCommand(entry.name, entry, rest, io)
}

/**
 * Runs `leix argv...`; resolves with the exit code (EXIT), never rejects: usage and configuration
 * errors are printed and exit 2, anything else exits 1 with its stack. `serve`, `gateway` and
 * `worker` resolve once started; their process then runs until a signal.
 */
export async function main (argv: string[], io: Io = processIo()): Promise<number> {
  try {
    return await dispatch(argv, io)
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError || err instanceof DirectoryError || (err as Error).name === 'StartupError') {
      io.stderr.write(`leix: ${(err as Error).message}\n`)
      return EXIT.usage
    }
    io.stderr.write(`leix: ${(err as Error).stack ?? String(err)}\n`)
    return EXIT.failed
  }
}
