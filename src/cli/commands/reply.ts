// `leix reply`: sign (and send) a reply to a received message: addressed back to its sender, in
// reply to it (so in its exchange), with its case, crime areas, legal basis, handling, data
// subjects and retention; what only the replying officer knows is given as options.
import { randomUUID } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import * as jose from 'jose'
import { signMessage } from '../../client/index.ts'
import { readJwkFile, signingKeyFromJwk } from '../../config/keys.ts'
import { MESSAGE_KINDS } from '../../intake/message.ts'
import { TLS_OPTIONS, URL_OPTION, callLeix } from '../api.ts'
import { EXIT, UsageError, command } from '../command.ts'
import { readText } from '../files.ts'

/**
 * The kinds that answer a message in its exchange. The D6 consent pair (consent-request, consent)
 * names structured uses: write it from `leix example --kind consent-request` and send it.
 */
export const REPLY_KINDS = MESSAGE_KINDS.filter((k) => k !== 'request' && k !== 'spontaneous' && k !== 'consent-request' && k !== 'consent')

/** The received message: its JWS (leix inbox --save), an inbox item ({jws}), or the message JSON. */
export function receivedMessage (path: string): Record<string, unknown> {
  const text = readText(path, 'RECEIVED').trim()
  let value: unknown
  try {
    value = text.startsWith('{') ? JSON.parse(text) : text
  } catch {
    throw new UsageError(`RECEIVED ${path} is neither JSON nor a compact JWS`)
  }
  const jws = typeof value === 'string' ? value : typeof (value as { jws?: unknown }).jws === 'string' ? (value as { jws: string }).jws : undefined
  let message: unknown = value
  if (jws !== undefined) {
    try {
      // The sender's signature was checked by leix at intake; this reads what it said.
      message = JSON.parse(new TextDecoder().decode(jose.base64url.decode(jws.split('.')[1] ?? '')))
    } catch {
      throw new UsageError(`RECEIVED ${path}: not a compact JWS of a message`)
    }
  }
  const m = message as { id?: unknown; from?: { agency?: unknown }; to?: { agency?: unknown } } | null
  if (typeof m?.id !== 'string' || typeof m.from?.agency !== 'string' || typeof m.to?.agency !== 'string') {
    throw new UsageError(`RECEIVED ${path}: not a message (id, from.agency and to.agency)`)
  }
  return message as Record<string, unknown>
}

/** The reply to `received` of `kind`, by `officer` of the agency it was addressed to. */
export function replyTo (received: Record<string, unknown>, o: {
  kind: (typeof REPLY_KINDS)[number]; officer: string; text: string; now: Date
  ground?: string | undefined; reasons?: string | undefined; expectedBy?: string | undefined
}): Record<string, unknown> {
  const r = received as Record<string, any>
  const reply: Record<string, unknown> = {
    id: randomUUID(),
    kind: o.kind,
    from: { agency: r.to.agency, officer: o.officer },
    to: { agency: r.from.agency },
    createdAt: o.now.toISOString(),
    // P2: a reply in the request's language is always accepted.
    language: r.language,
    caseRef: r.caseRef,
    crimeAreas: r.crimeAreas,
    legalBasis: r.legalBasis,
    purpose: { statement: `${o.kind} in case ${String(r.caseRef)}` },
    urgency: { level: 'normal' },
    // The received message's standing consent (D6) is its sender's, not the replier's.
    handling: { ...r.handling, consent: undefined },
    dataSubjects: r.dataSubjects,
    retention: r.retention,
    inReplyTo: r.id,
    body: { text: o.text },
  }
  if (o.kind === 'response' && r.evaluation === undefined) reply.evaluation = { source: 'B', information: '2' }
  if (o.kind === 'refusal') {
    if (!o.ground || !o.reasons) throw new UsageError('a refusal needs --ground (a-h) and --reasons')
    reply.refusal = { ground: o.ground, reasons: o.reasons }
  }
  if (o.kind === 'delay-notice') {
    if (!o.expectedBy || !o.reasons) throw new UsageError('a delay-notice needs --expected-by (ISO 8601) and --reasons')
    // The ground every instrument allows (T3); an instrument's own grounds need a hand-written reply.
    reply.delay = { ground: 'judicial-authorisation', expectedBy: o.expectedBy, reasons: o.reasons }
  }
  return reply
}

export const reply = command({
  name: 'reply',
  summary: 'sign and send a reply to a received message (inReplyTo, addressee and case from it)',
  description: `RECEIVED is the message as received: its JWS (leix inbox --save DIR writes DIR/<messageId>.jws),
an inbox item, or the message JSON. The reply goes back to its sender in the same exchange, citing the
same legal basis, case, crime areas, data subjects, handling and retention. With --dry-run the reply is
printed (unsigned) instead, to edit and send with leix send.`,
  positionals: [{ name: 'RECEIVED', description: 'the received message (JWS file, inbox item or message JSON)' }],
  options: {
    kind: { type: 'string', choices: REPLY_KINDS, value: 'KIND', required: true, description: 'the kind of reply' },
    key: { type: 'string', value: 'FILE', description: "the replying agency's private JWK (not needed with --dry-run)" },
    officer: { type: 'string', value: 'ID', required: true, description: 'the replying officer' },
    text: { type: 'string', value: 'TEXT', default: 'See attached reply.', description: 'the body text' },
    ground: { type: 'string', value: 'a-h', description: 'refusal: the ground of refusal' },
    reasons: { type: 'string', value: 'TEXT', description: 'refusal, delay-notice: the reasons' },
    'expected-by': { type: 'string', value: 'TIME', description: 'delay-notice: when the answer is expected (ISO 8601)' },
    'dry-run': { type: 'boolean', description: 'print the reply message instead of signing and sending it' },
    'save-jws': { type: 'string', value: 'FILE', description: 'also write the JWS sent to FILE (for receipt verify --jws)' },
    url: URL_OPTION,
    ...TLS_OPTIONS,
  },
  async run ({ values, positionals }, io) {
    const message = replyTo(receivedMessage(positionals[0] as string), {
      kind: values.kind, officer: values.officer, text: values.text, now: new Date(),
      ground: values.ground, reasons: values.reasons, expectedBy: values['expected-by'],
    })
    if (values['dry-run']) {
      io.stdout.write(JSON.stringify(message, null, 2) + '\n')
      return EXIT.ok
    }
    if (!values.key) throw new UsageError('reply needs --key FILE (the agency\'s private JWK) unless --dry-run')
    const jws = await signMessage(message, signingKeyFromJwk(readJwkFile(values.key, '--key'), '--key'))
    if (values['save-jws']) writeFileSync(values['save-jws'], jws + '\n')
    const body = await callLeix(io, values, (client) => client.submit(jws))
    if (body === undefined) return EXIT.failed
    io.stdout.write(JSON.stringify(body, null, 2) + '\n')
    return EXIT.ok
  },
})
