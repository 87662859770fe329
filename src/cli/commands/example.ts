// `leix example`: a valid message to start from, under an instrument both agencies are party to.
import { loadDirectory, DirectoryError } from '../../directory/load.ts'
import { EXIT, UsageError, command } from '../command.ts'
import { EXAMPLE_KINDS, NoExampleError, REPLY_KINDS, exampleFor } from '../example.ts'

export const example = command({
  name: 'example',
  summary: 'print a valid example message for two agencies',
  description: 'Cites the first legal instrument in the directory to which both agencies\' countries are parties, ' +
    'with a transfer basis between the EU side and a third country; exits 1 when the two share no instrument. ' +
    `A reply (${REPLY_KINDS.join(', ')}) needs --in-reply-to.`,
  options: {
    from: { type: 'string', value: 'ID', default: 'AL-ASP', description: 'the sending agency' },
    to: { type: 'string', value: 'ID', default: 'RS-MUP', description: 'the receiving agency' },
    kind: { type: 'string', choices: EXAMPLE_KINDS, default: 'request', description: 'the kind of message' },
    'in-reply-to': { type: 'string', value: 'MESSAGE_ID', description: 'the message a reply answers (reply kinds only)' },
    officer: { type: 'string', value: 'ID', default: 'officer-0042', description: 'the sending officer' },
    directory: { type: 'string', value: 'FILE', env: 'LEIX_DIRECTORY', default: 'config/directory.sample.json', description: 'the directory of agencies and instruments' },
  },
  async run ({ values }, io) {
    const reply = (REPLY_KINDS as readonly string[]).includes(values.kind)
    if (reply && !values['in-reply-to']) throw new UsageError(`a ${values.kind} answers a message: give --in-reply-to MESSAGE_ID`)
    if (!reply && values['in-reply-to']) throw new UsageError(`a ${values.kind} opens an exchange and takes no --in-reply-to`)
    try {
      const directory = loadDirectory(values.directory)
      const message = exampleFor(directory, { from: values.from, to: values.to, kind: values.kind, officer: values.officer, inReplyTo: values['in-reply-to'] })
      io.stdout.write(JSON.stringify(message, null, 2) + '\n')
      return EXIT.ok
    } catch (err) {
      if (err instanceof DirectoryError) throw new UsageError(err.message)
      if (!(err instanceof NoExampleError)) throw err
      io.stderr.write(`leix: ${err.message}\n`)
      return EXIT.failed
    }
  },
})
