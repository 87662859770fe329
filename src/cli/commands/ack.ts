// `leix ack`: acknowledge a received message (it is then delivered, and leaves the inbox).
import { JSON_OPTION, TLS_OPTIONS, TOKEN_OPTION, URL_OPTION, callLeix } from '../api.ts'
import { EXIT, command } from '../command.ts'

export const ack = command({
  name: 'ack',
  summary: 'acknowledge a message addressed to the agency (idempotent; role system)',
  positionals: [{ name: 'MESSAGE_ID', description: 'the messageId listed by leix inbox' }],
  options: { token: TOKEN_OPTION, url: URL_OPTION, json: JSON_OPTION, ...TLS_OPTIONS },
  async run ({ values, positionals }, io) {
    const body = await callLeix(io, values, (client) => client.ack(positionals[0] as string), { needsToken: 'ack' })
    if (body === undefined) return EXIT.failed
    io.stdout.write(values.json ? JSON.stringify(body, null, 2) + '\n' : `acknowledged ${body.messageId} (exchange ${body.exchangeId}) at ${body.acknowledgedAt}\n`)
    return EXIT.ok
  },
})
