// `leix serve | gateway | worker`: one leix process in a role. They return once started; the
// process then runs until a signal (close-with-grace stops everything and exits).
import pino from 'pino'
import { loadConfig } from '../../config/config.ts'
import { EXIT, command, type Command } from '../command.ts'

function role (name: 'serve' | 'gateway' | 'worker', summary: string): Command {
  return command({
    name,
    summary,
    description: 'Configured by the environment (README "Configuration"); stops cleanly on SIGTERM or SIGINT. ' +
      'A service that cannot be reached at start-up, or a port that is taken, is named with its address and exits 2.',
    options: {},
    async run (_args, io) {
      const config = loadConfig(io.env, { role: name }, { server: true })
      // Said before anything else, as a log line like every other line the process prints.
      if (config.devKeys) {
        pino({ name: 'leix', level: config.logLevel }, io.stderr).warn({ devKeys: true }, 'development mode (LEIX_DEV_KEYS=true): the committed development keys, ' +
          'whose private halves are public, are trusted and used for any key not configured; never run it so in production')
      }
      const { start, StartupError } = await import('../../server.ts')
      try {
        const started = await start(config, { installSignalHandlers: true })
        if (!started.app) io.stderr.write(`leix ${name} running\n`)
        return EXIT.ok
      } catch (err) {
        // A system or database error with a code is the environment's, not a bug: its message, no stack.
        const code = (err as { code?: unknown }).code
        if (!(err instanceof StartupError) && typeof code === 'string') throw new StartupError(`leix ${name} could not start: ${(err as Error).message} (${code})`)
        throw err
      }
    },
  })
}

export const serve = role('serve', 'gateway and workers in one process (default for one machine)')
export const gateway = role('gateway', 'the HTTP gateway only')
export const worker = role('worker', 'the background workers only')
