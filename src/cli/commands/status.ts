// `leix status`: one exchange, as a liaison officer follows it.
import { JSON_OPTION, TLS_OPTIONS, TOKEN_OPTION, URL_OPTION, callLeix, timeLeft } from '../api.ts'
import { EXIT, command } from '../command.ts'

export const status = command({
  name: 'status',
  summary: "an exchange's status, deadline and timeline",
  positionals: [{ name: 'EXCHANGE_ID', description: 'the exchange (exchangeId in the answer of send)' }],
  options: { token: TOKEN_OPTION, url: URL_OPTION, json: JSON_OPTION, ...TLS_OPTIONS },
  async run ({ values, positionals }, io) {
    const body = await callLeix(io, values, (client) => client.exchange(positionals[0] as string), { needsToken: 'status' })
    if (body === undefined) return EXIT.failed
    if (values.json) {
      io.stdout.write(JSON.stringify(body, null, 2) + '\n')
      return EXIT.ok
    }
    const left = body.timeLeftSeconds === null ? '' : ` (${timeLeft(body.timeLeftSeconds)})`
    io.stdout.write(
      `exchange ${body.id}  ${body.requester} -> ${body.responder}  ${body.kind}, ${body.urgency}\n` +
        `status   ${body.status}${body.overdue ? ' [OVERDUE]' : ''}\n` +
        `deadline ${body.deadline ?? 'none'}${left}\n` +
        `case     ${body.caseRef}  legal basis ${body.legalBasis}  crime areas ${body.crimeAreas.join(', ')}\n` +
        'timeline\n' +
        body.timeline.map((e) => `  ${e.at}  ${e.event.padEnd(32)} ${e.actor ?? ''} ${e.outcome}${e.reason ? ` (${e.reason})` : ''}`).join('\n') + '\n'
    )
    return EXIT.ok
  },
})
