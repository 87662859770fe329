// `leix exchanges`: the token's agency's exchanges, a page at a time.
import { EXCHANGE_STATUSES } from '../../exchanges/state.ts'
import { CRIME_AREAS } from '../../intake/message.ts'
import { JSON_OPTION, TOKEN_OPTION, URL_OPTION, readAsOfficer, timeLeft, type ExchangeList } from '../api.ts'
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
  },
  async run ({ values }, io) {
    const query = new URLSearchParams()
    for (const [flag, param] of [['direction', 'direction'], ['status', 'status'], ['crime-area', 'crimeArea'], ['limit', 'limit'], ['cursor', 'cursor']] as const) {
      const value = values[flag]
      if (value !== undefined) query.set(param, value)
    }
    if (values.overdue) query.set('overdue', 'true')
    const body = await readAsOfficer<ExchangeList>(io, 'exchanges', values, `/v1/exchanges?${query}`)
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
