// `leix lineage`: where the data of a message went (Q3), for its provider or a supervisor.
import { JSON_OPTION, TLS_OPTIONS, TOKEN_OPTION, URL_OPTION, callLeix } from '../api.ts'
import { EXIT, command } from '../command.ts'

export const lineage = command({
  name: 'lineage',
  summary: 'the messages and exchanges that carried data derived from a message (its provider or a supervisor)',
  positionals: [{ name: 'MESSAGE_ID', description: 'the message whose data was passed on (messageId in the answer of send)' }],
  options: { token: TOKEN_OPTION, url: URL_OPTION, json: JSON_OPTION, ...TLS_OPTIONS },
  async run ({ values, positionals }, io) {
    const body = await callLeix(io, values, (client) => client.lineage(positionals[0] as string), { needsToken: 'lineage' })
    if (body === undefined) return EXIT.failed
    if (values.json) {
      io.stdout.write(JSON.stringify(body, null, 2) + '\n')
      return EXIT.ok
    }
    io.stdout.write(
      `message ${body.messageId}  provider ${body.provider}  exchange ${body.exchangeId}\n` +
        `derived ${body.derived.length} message(s) in ${body.exchanges.length} exchange(s)\n` +
        body.derived.map((d) => `  ${'  '.repeat(d.depth - 1)}${d.messageId}  ${d.sender} -> ${d.recipient}  ${d.kind}, ${d.status}  exchange ${d.exchangeId}  from ${d.origin}`).join('\n') +
        (body.derived.length > 0 ? '\n' : '')
    )
    return EXIT.ok
  },
})
