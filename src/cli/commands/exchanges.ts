// `leix exchanges`: the token's agency's exchanges, a page at a time.
import { EXCHANGE_STATUSES } from '../../exchanges/state.ts'
import { CRIME_AREAS } from '../../intake/message.ts'
import { JSON_OPTION, TLS_OPTIONS, TOKEN_OPTION, URL_OPTION, callLeix, timeLeft } from '../api.ts'
import { EXIT, command } from '../command.ts'

export const exchanges = command({
  name: 'exchanges',
  summary: "the token's agency's exchanges, newest first",
  options: {
    direction: { type: 'string', choices: ['incoming', 'outgoing'], description: 'only those it sent, or received' },
    status: { type: 'string', choices: EXCHANGE_STATUSES, value: 'STATUS', description: 'only those in this status' },
    overdue: { type: 'boolean', description: 'only the overdue ones' },
    'crime-area': { type: 'string', choices: CRIME_AREAS, value: 'AREA', description: 'only those of this crime area' },
    limit: { type: 'string', value: 'N', description: 'at most N (1 to 200; the server default is 50)' },
    cursor: { type: 'string', value: 'C', description: 'the next page (printed as "more: --cursor C")' },
    token: TOKEN_OPTION,
    url: URL_OPTION,
    json: JSON_OPTION,
    ...TLS_OPTIONS,
  },
  async run ({ values }, io) {
    const filters = {
      direction: values.direction, status: values.status, crimeArea: values['crime-area'], cursor: values.cursor,
      ...(values.limit !== undefined ? { limit: Number(values.limit) } : {}), ...(values.overdue ? { overdue: true } : {}),
    }
    const body = await callLeix(io, values, (client) => client.exchanges(filters), { needsToken: 'exchanges' })
    if (body === undefined) return EXIT.failed
    if (values.json) {
      io.stdout.write(JSON.stringify(body, null, 2) + '\n')
      return EXIT.ok
    }
    const rows = body.items.map((e) => {
      const counterpart = e.direction === 'outgoing' ? `-> ${e.responder}` : `<- ${e.requester}`
      const left = e.timeLeftSeconds === null ? '' : timeLeft(e.timeLeftSeconds)
      return `${e.id}  ${counterpart.padEnd(14)} ${e.status.padEnd(13)} ${(e.overdue ? 'OVERDUE ' : '') + left}`.trimEnd() + `  ${e.caseRef}`
    })
    io.stdout.write((rows.length ? rows.join('\n') : 'no exchanges') + '\n' + (body.nextCursor ? `more: --cursor ${body.nextCursor}\n` : ''))
    return EXIT.ok
  },
})
