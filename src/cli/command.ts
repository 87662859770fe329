// The command framework of `leix` (after npm/cli `lib/base-cmd.js`): each command declares its
// positionals and options, the framework parses them with node:util parseArgs and generates the
// help and the usage shown with a usage error from the same declarations, so neither can drift.
import { parseArgs } from 'node:util'
import { LeixError } from '../errors.ts'

/** Exit codes: 0 ok, 1 the operation failed (a problem answer, a bad receipt), 2 usage or configuration. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const
export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/** Wrong arguments or unusable input named on the command line (exit 2). */
export class UsageError extends LeixError<'usage'> {
  constructor (message: string) {
    super('usage', message)
  }
}

/** Where a command writes and what environment it reads; `main` gets the process's by default. */
export interface Io {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  env: Readonly<Record<string, string | undefined>>
}

/** One option: its node:util parseArgs config, plus what help says about it. */
export interface OptionSpec {
  type: 'string' | 'boolean'
  multiple?: boolean
  short?: string
  /** Used when neither the option nor its `env` variable is given. */
  default?: string | boolean
  /** What the option does, one line. */
  description: string
  /** The value's name in usage lines (`--key FILE`); string options only. @defaultValue `VALUE` */
  value?: string
  /** The allowed values: listed in help, checked before the command runs. */
  choices?: readonly string[]
  /** Checked before the command runs; shown without brackets in usage. */
  required?: boolean
  /** An environment variable that gives the value when the option is absent. */
  env?: string
}
export type Options = Readonly<Record<string, OptionSpec>>

export interface Positional {
  /** Its name in usage lines: `MESSAGE.json`. */
  name: string
  description: string
}

type ValueOf<S extends OptionSpec> = S['type'] extends 'boolean'
  ? boolean
  : S['choices'] extends readonly (infer C)[]
    ? C
    : S['multiple'] extends true
      ? string[]
      : string
type Given<S extends OptionSpec> = S['required'] extends true ? true : S['default'] extends string | boolean ? true : S['type'] extends 'boolean' ? true : false

/** The parsed options: always present when required, defaulted or boolean (false when absent). */
export type Values<O extends Options> = { -readonly [K in keyof O]: Given<O[K]> extends true ? ValueOf<O[K]> : ValueOf<O[K]> | undefined }

export interface Args<O extends Options> {
  values: Values<O>
  positionals: string[]
}

/** A command: `leix <name>`, or `leix <group> <name>` inside a group. */
export interface Command<O extends Options = Options> {
  name: string
  /** One line, for the list of commands. */
  summary: string
  /** Paragraphs for the command's own help (the summary is shown when absent). */
  description?: string
  /** Exactly these positionals are expected (none when absent). */
  positionals?: readonly Positional[]
  options: O
  /** Runs with the parsed arguments; returns the exit code. Throws UsageError for bad input. */
  run(args: Args<O>, io: Io): Promise<number>
}

/** A group of subcommands: `leix audit verify|export|self-check`. */
export interface CommandGroup {
  name: string
  summary: string
  subcommands: readonly Command[]
  /** The subcommand run when the first argument is an option (`leix witness --url ...` runs `run`). */
  implicit?: string
  /** A closing paragraph for the group's help. */
  footer?: string
}

export type Entry = Command | CommandGroup

/** Declares a command; infers its option types for `run`. */
export function command<const O extends Options> (c: Command<O>): Command<O> {
  return c
}

export function isGroup (entry: Entry): entry is CommandGroup {
  return 'subcommands' in entry
}

/** Every --help, whatever the command: not declared by commands. */
const HELP_FLAGS = new Set(['--help', '-h'])

export function wantsHelp (argv: readonly string[]): boolean {
  const end = argv.indexOf('--')
  return (end === -1 ? argv : argv.slice(0, end)).some((a) => HELP_FLAGS.has(a))
}

/** `a`, `a and b`, `a, b and c`; with `or`: `EdDSA or ES256`. */
export function listOf (items: readonly string[], conjunction: 'and' | 'or' = 'and'): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} ${conjunction} ${items.at(-1)}`
}

/** A few choices are shown in usage lines (`--alg EdDSA|ES256`); more by the value's name. */
function valueName (spec: OptionSpec): string {
  return spec.choices && spec.choices.length <= 3 ? spec.choices.join('|') : (spec.value ?? 'VALUE')
}

/** `--key FILE`, `--fresh`, `--witness-key K ...`. */
export function flagUsage (name: string, spec: OptionSpec): string {
  const flag = spec.type === 'boolean' ? `--${name}` : `--${name} ${valueName(spec)}`
  return spec.multiple ? `${flag} ...` : flag
}

/** The one-line synopsis after `leix`: `sign MESSAGE.json --key FILE [--fresh]`. */
export function synopsis (path: string, c: Command): string {
  const options = Object.entries(c.options)
  const parts = [
    path,
    ...(c.positionals ?? []).map((p) => p.name),
    ...options.filter(([, s]) => s.required).map(([n, s]) => flagUsage(n, s)),
    ...options.filter(([, s]) => !s.required).map(([n, s]) => `[${flagUsage(n, s)}]`),
  ]
  return parts.join(' ')
}

const COLUMN = 30

/** Long synopses continue on the next line, so that help stays readable in a terminal. */
export function wrap (text: string, indent: number, width = 100): string {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/ (?=\[|--)/)) {
    if (line && indent + line.length + 1 + word.length > width) {
      lines.push(line)
      line = '  ' + word
    } else {
      line = line ? `${line} ${word}` : word
    }
  }
  lines.push(line)
  return lines.join('\n' + ' '.repeat(indent))
}

/** `  left      text`, the text on the next line when `left` is too wide. */
export function row (left: string, text: string, indent = 2): string {
  const head = ' '.repeat(indent) + left
  return head.length < COLUMN ? head.padEnd(COLUMN) + text : `${head}\n${' '.repeat(COLUMN)}${text}`
}

function defaultNote (spec: OptionSpec): string {
  const from = [spec.env, spec.default !== undefined && spec.type === 'string' ? String(spec.default) : undefined].filter(Boolean)
  if (from.length === 0) return ''
  return ` (default: ${from.join(', else ')})`
}

/** `leix <path> --help`. */
export function commandHelp (path: string, c: Command): string {
  const lines = [`leix ${path} — ${c.summary}`, '', `Usage: leix ${wrap(synopsis(path, c), 7)}`]
  if (c.description) lines.push('', ...c.description.split('\n').map((l) => (l ? `  ${l}` : l)))
  if (c.positionals?.length) {
    lines.push('', 'Arguments')
    for (const p of c.positionals) lines.push(row(p.name, p.description))
  }
  lines.push('', 'Options')
  for (const [name, spec] of Object.entries(c.options)) {
    const short = spec.short ? `-${spec.short}, ` : ''
    const choices = spec.choices ? ` (one of ${listOf(spec.choices, 'or')})` : ''
    lines.push(row(short + flagUsage(name, spec), spec.description + choices + defaultNote(spec)))
  }
  lines.push(row('-h, --help', 'this help'))
  return lines.join('\n') + '\n'
}

/** `leix <group> --help`: each subcommand's synopsis and summary. */
export function groupHelp (g: CommandGroup): string {
  const lines = [`leix ${g.name} — ${g.summary}`, '']
  for (const c of g.subcommands) lines.push(`  leix ${wrap(synopsis(`${g.name} ${c.name}`, c), 7)}`, `      ${c.summary}`, '')
  lines.push(`Run leix ${g.name} <subcommand> --help for its options.`)
  if (g.footer) lines.push('', g.footer)
  return lines.join('\n') + '\n'
}

/**
 * Parses `argv` as declared by `c`: unknown options, missing required ones, a value outside the
 * choices and a wrong number of positionals are usage errors. A given option wins over its
 * environment variable, which wins over the default.
 */
export function parseCommandArgs<O extends Options> (path: string, c: Command<O>, argv: string[], env: Io['env']): Args<O> {
  const config: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {}
  for (const [name, spec] of Object.entries(c.options)) {
    config[name] = { type: spec.type, ...(spec.multiple ? { multiple: true } : {}), ...(spec.short ? { short: spec.short } : {}) }
  }
  let parsed: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] }
  try {
    parsed = parseArgs({ args: argv, options: config, allowPositionals: true, strict: true })
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((err as Error).message)
    throw err
  }
  const values: Record<string, unknown> = {}
  const missing: string[] = []
  for (const [name, spec] of Object.entries(c.options)) {
    let value = parsed.values[name] ?? (spec.env ? env[spec.env] : undefined) ?? spec.default
    if (value === undefined && spec.type === 'boolean') value = false
    if (value === undefined && spec.required) missing.push(flagUsage(name, spec))
    if (spec.choices && typeof value === 'string' && !spec.choices.includes(value)) {
      throw new UsageError(`--${name} must be ${listOf(spec.choices, 'or')}`)
    }
    values[name] = value
  }
  const expected = c.positionals ?? []
  if (missing.length > 0 || parsed.positionals.length !== expected.length) {
    const wanted = [...Object.entries(c.options).filter(([, s]) => s.required).map(([n, s]) => flagUsage(n, s)), ...expected.map((p) => `one ${p.name}`)]
    throw new UsageError(wanted.length ? `${path} needs ${listOf(wanted)}` : `${path} takes no arguments, got ${parsed.positionals.join(' ')}`)
  }
  return { values: values as Values<O>, positionals: parsed.positionals }
}
