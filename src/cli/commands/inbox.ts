// `leix inbox`: the messages addressed to the token's agency not yet acknowledged (pull delivery).
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { JSON_OPTION, TLS_OPTIONS, TOKEN_OPTION, URL_OPTION, callLeix } from '../api.ts'
import { EXIT, command } from '../command.ts'

export const inbox = command({
  name: 'inbox',
  summary: "the agency's messages not yet acknowledged, oldest first (role system)",
  description: `Each fetch is logged as a disclosure; a message stays listed until acknowledged (leix ack).
With --save DIR, each message's original JWS (signed by its sender) is written to DIR/<messageId>.jws,
which leix reply takes.`,
  options: {
    limit: { type: 'string', value: 'N', description: 'at most N (1 to 100; the server default is 20)' },
    cursor: { type: 'string', value: 'C', description: 'the next page (printed as "more: --cursor C")' },
    save: { type: 'string', value: 'DIR', description: "write each message's JWS to DIR/<messageId>.jws" },
    token: TOKEN_OPTION,
    url: URL_OPTION,
    json: JSON_OPTION,
    ...TLS_OPTIONS,
  },
  async run ({ values }, io) {
    const page = { ...(values.limit !== undefined ? { limit: Number(values.limit) } : {}), ...(values.cursor !== undefined ? { cursor: values.cursor } : {}) }
    const body = await callLeix(io, values, (client) => client.inbox(page), { needsToken: 'inbox' })
    if (body === undefined) return EXIT.failed
    if (values.save) {
      mkdirSync(values.save, { recursive: true })
      for (const item of body.items) if (item.jws) writeFileSync(join(values.save, `${item.messageId}.jws`), item.jws + '\n')
    }
    if (values.json) {
      io.stdout.write(JSON.stringify(body, null, 2) + '\n')
      return EXIT.ok
    }
    const rows = body.items.map((m) =>
      `${m.messageId}  ${m.kind.padEnd(13)} ${m.from} -> ${m.to}  exchange ${m.exchangeId}  ${m.receivedAt}` +
      `${m.status === 'accepted' ? '' : ` [${m.status}]`}${m.jws === null ? ' (erased)' : values.save ? `  ${join(values.save, `${m.messageId}.jws`)}` : ''}`)
    io.stdout.write((rows.length ? rows.join('\n') : 'inbox empty') + '\n' + (body.nextCursor ? `more: --cursor ${body.nextCursor}\n` : ''))
    return EXIT.ok
  },
})
