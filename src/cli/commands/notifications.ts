// `leix notifications`: what leix tells the agency (overdue, non-delivery, undeliverable, review due).
import { JSON_OPTION, TLS_OPTIONS, TOKEN_OPTION, URL_OPTION, callLeix } from '../api.ts'
import { EXIT, command } from '../command.ts'

export const notifications = command({
  name: 'notifications',
  summary: "the agency's notifications in order; poll with --after the printed cursor",
  options: {
    after: { type: 'string', value: 'N', description: 'only those after this cursor (printed as "next: --after N")' },
    limit: { type: 'string', value: 'N', description: 'at most N (1 to 200; the server default is 50)' },
    token: TOKEN_OPTION,
    url: URL_OPTION,
    json: JSON_OPTION,
    ...TLS_OPTIONS,
  },
  async run ({ values }, io) {
    const page = { ...(values.after !== undefined ? { after: Number(values.after) } : {}), ...(values.limit !== undefined ? { limit: Number(values.limit) } : {}) }
    const body = await callLeix(io, values, (client) => client.notifications(page), { needsToken: 'notifications' })
    if (body === undefined) return EXIT.failed
    if (values.json) {
      io.stdout.write(JSON.stringify(body, null, 2) + '\n')
      return EXIT.ok
    }
    const rows = body.items.map((n) => `${n.createdAt}  ${n.type.padEnd(24)} ${n.exchangeId ? `exchange ${n.exchangeId}` : ''}${n.messageId ? ` message ${n.messageId}` : ''}`.trimEnd())
    io.stdout.write((rows.length ? rows.join('\n') : 'no notifications') + '\n' + (body.nextCursor !== null ? `next: --after ${body.nextCursor}\n` : ''))
    return EXIT.ok
  },
})
