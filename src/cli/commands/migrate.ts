// `leix migrate`: the database migrations, as the owner role.
import { loadConfig, migrationUrl, type Config } from '../../config/config.ts'
import { EXIT, command, type Io } from '../command.ts'

/**
 * Configuration for the commands that only touch the database (`migrate`, `db roles`): they use
 * the three database URLs, so the gateway's trust settings (directory, token audience), required
 * outside development mode, are not asked for here.
 */
export function databaseConfig (env: Io['env']): Config {
  return loadConfig(env, {
    ...(env.LEIX_TOKEN_AUDIENCE ? {} : { tokenAudience: 'not-used-by-database-commands' }),
    ...(env.LEIX_DIRECTORY ? {} : { directoryPath: 'not-used-by-database-commands' }),
  })
}

export const migrate = command({
  name: 'migrate',
  summary: 'apply database migrations as the owner role and exit',
  description: 'Connects as LEIX_MIGRATE_DATABASE_URL (default: DATABASE_URL with the user leix_owner).',
  options: {},
  async run (_args, io) {
    const { migrateDatabase } = await import('../../store/migrations.ts')
    const applied = await migrateDatabase(migrationUrl(databaseConfig(io.env)))
    io.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'up to date\n')
    return EXIT.ok
  },
})
