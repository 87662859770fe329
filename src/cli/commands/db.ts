// `leix db roles`: the database roles and the database, created by an administrator.
import { migrationUrl, withUser } from '../../config/config.ts'
import { EXIT, UsageError, command, type CommandGroup } from '../command.ts'
import { databaseConfig } from './migrate.ts'

const roles = command({
  name: 'roles',
  summary: 'create the database roles and the database as an administrator; --print prints the SQL instead',
  description: 'The owner, app and sealer login roles named by LEIX_MIGRATE_DATABASE_URL, DATABASE_URL and\n' +
    'LEIX_SEALER_DATABASE_URL, and the database of DATABASE_URL. Idempotent.',
  options: {
    'admin-url': {
      type: 'string', value: 'URL', env: 'LEIX_ADMIN_DATABASE_URL',
      description: "an administrator's connection (default: the user postgres on DATABASE_URL's server)",
    },
    print: { type: 'boolean', description: 'print the SQL as an idempotent psql script instead of running it' },
  },
  async run ({ values }, io) {
    const { loginOf, setUpDatabase, setupScript } = await import('../../store/roles.ts')
    const cfg = databaseConfig(io.env)
    const spec = { owner: loginOf(migrationUrl(cfg)), app: loginOf(cfg.databaseUrl), sealer: loginOf(cfg.sealerDatabaseUrl) }
    const database = decodeURIComponent(new URL(cfg.databaseUrl).pathname.slice(1))
    if (!database) throw new UsageError('DATABASE_URL names no database')
    if (values.print) {
      io.stdout.write(setupScript(spec, database))
      return EXIT.ok
    }
    // Default: the superuser `postgres` on DATABASE_URL's server (trust auth on a development machine).
    const fallback = new URL(withUser(cfg.databaseUrl, 'postgres'))
    fallback.pathname = '/postgres'
    await setUpDatabase(values['admin-url'] ?? fallback.toString(), spec, database)
    io.stdout.write(`roles ${spec.owner.user} (owner), ${spec.app.user} (app), ${spec.sealer.user} (sealer) and database ${database} are ready; now run leix migrate\n`)
    return EXIT.ok
  },
})

export const db: CommandGroup = { name: 'db', summary: 'the database, set up by an administrator', subcommands: [roles] }
