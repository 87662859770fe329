// `leix serve | gateway | worker`: one leix process in a role. They return once started; the
// process then runs until a signal (close-with-grace stops everything and exits).
import { loadConfig } from '../../config/config.ts'
import { EXIT, command, type Command } from '../command.ts'

function role (name: 'serve' | 'gateway' | 'worker', summary: string): Command {
  return command({
    name,
    summary,
    description: 'Configured by the environment (README "Configuration"); stops cleanly on SIGTERM or SIGINT.',
    options: {},
    async run (_args, io) {
      const { start } = await import('../../server.ts')
      const started = await start(loadConfig(io.env, { role: name }), { installSignalHandlers: true })
      if (!started.app) io.stderr.write(`leix ${name} running\n`)
      return EXIT.ok
    },
  })
}

export const serve = role('serve', 'gateway and workers in one process (default for one machine)')
export const gateway = role('gateway', 'the HTTP gateway only')
export const worker = role('worker', 'the background workers only')
