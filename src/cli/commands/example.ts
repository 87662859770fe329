// `leix example`: a valid message to start from.
import { EXIT, command } from '../command.ts'
import { exampleMessage } from '../example.ts'

export const example = command({
  name: 'example',
  summary: 'print a valid example message',
  options: {
    from: { type: 'string', value: 'ID', default: 'AL-ASP', description: 'the sending agency' },
    to: { type: 'string', value: 'ID', default: 'RS-MUP', description: 'the receiving agency' },
    kind: { type: 'string', choices: ['request', 'spontaneous'], default: 'request', description: 'a request, or spontaneous information' },
    officer: { type: 'string', value: 'ID', default: 'officer-0042', description: 'the sending officer' },
  },
  async run ({ values }, io) {
    io.stdout.write(JSON.stringify(exampleMessage({ from: values.from, to: values.to, kind: values.kind, officer: values.officer }), null, 2) + '\n')
    return EXIT.ok
  },
})
