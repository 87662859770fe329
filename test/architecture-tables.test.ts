// One module owns each table: only it has SQL that names the table after FROM, INTO, UPDATE, JOIN,
// TABLE or TRUNCATE. Others call its functions; a statement over several tables is composed from
// the owners' parts (src/store/statement.ts). Migrations and the role grants name every table.
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname

/**
 * Table → its owner: a file, or a folder (trailing slash) where one module per job is still to be
 * cut. Repositories sit beside the domain module that decides what happens to the rows.
 */
const OWNERS: Record<string, string> = {
  exchanges: 'src/exchanges/exchanges-repository.ts',
  deadline_warnings: 'src/exchanges/exchanges-repository.ts',
  messages: 'src/delivery/messages-repository.ts',
  // A message's push attempts and inbox fetches: never written without their message.
  deliveries: 'src/delivery/messages-repository.ts',
  notifications: 'src/delivery/notifications-repository.ts',
  // D6, Q3: a message's origins and the consents to onward use of its data.
  message_origins: 'src/exchanges/lineage-repository.ts',
  message_consents: 'src/exchanges/lineage-repository.ts',
  justifications: 'src/audit/justification.ts',
  // The sealed audit log: the audit folder's, until its split by job gives each table one file.
  audit_events: 'src/audit/',
  audit_nodes: 'src/audit/',
  audit_checkpoints: 'src/audit/',
  audit_state: 'src/audit/',
  audit_alarms: 'src/audit/',
  audit_cosignatures: 'src/audit/',
  leix_migrations: 'src/store/migrat',
}

/** Files allowed to name any table: the schema's migrations, and the role grants. */
const EXEMPT = [/^src\/store\/migrat/, /^src\/store\/roles\.ts$/]

function * files (dir: string, ext: RegExp): Generator<string> {
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`
    if (entry.isDirectory()) yield * files(path, ext)
    else if (ext.test(entry.name)) yield path
  }
}

/** Comments blanked (line numbers kept): prose may say "from messages"; a comment runs no SQL. */
function code (text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '))
    .replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1')
}

const tables = Object.keys(OWNERS)
const mention = new RegExp(`\\b(FROM|INTO|UPDATE|JOIN|TABLE|TRUNCATE)\\s+(?:ONLY\\s+|IF\\s+(?:NOT\\s+)?EXISTS\\s+)?(${tables.join('|')})\\b`, 'gi')

t.test('every table the migrations create has an owner', async (t) => {
  const created = new Set<string>()
  for (const file of files('src/store', /\.(ts|sql)$/)) {
    for (const m of readFileSync(join(root, file), 'utf8').matchAll(/CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+)/g)) created.add(m[1] as string)
  }
  t.ok(created.size >= 10, `found the tables (${[...created].join(', ')})`)
  t.same([...created].filter((name) => !(name in OWNERS)), [], 'tables without an owner')
})

t.test('only its owner has SQL for a table', async (t) => {
  const offending: string[] = []
  let scanned = 0
  for (const file of files('src', /\.ts$/)) {
    if (EXEMPT.some((re) => re.test(file))) continue
    scanned++
    const text = code(readFileSync(join(root, file), 'utf8'))
    for (const m of text.matchAll(mention)) {
      const table = (m[2] as string).toLowerCase()
      const owner = OWNERS[table] as string
      if (file === owner || (!owner.endsWith('.ts') && file.startsWith(owner))) continue
      const line = text.slice(0, m.index).split('\n').length
      offending.push(`${file}:${line}: ${m[0].replace(/\s+/g, ' ')} (owner: ${owner})`)
    }
  }
  t.ok(scanned > 50, `scanned ${scanned} files`)
  t.same(offending, [], `SQL outside its table's owner:\n  ${offending.join('\n  ')}`)
})

t.test('exchange status is written only through exchanges/state.ts', async (t) => {
  // The repository's status part is state.ts's to use: it applies the state machine's from-states.
  const users = [...files('src', /\.ts$/)].filter((file) => /\bstatusChange\b/.test(code(readFileSync(join(root, file), 'utf8'))))
  t.same(users.map((f) => relative('.', f)).sort(), ['src/exchanges/exchanges-repository.ts', 'src/exchanges/state.ts'])
})
