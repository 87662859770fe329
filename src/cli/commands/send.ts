// `leix send`: sign and submit a message; prints the broker's answer with its receipt.
import { writeFileSync } from 'node:fs'
import { TLS_OPTIONS, URL_OPTION, callLeix } from '../api.ts'
import { EXIT, command } from '../command.ts'
import { MESSAGE_POSITIONAL, SIGNING_OPTIONS, signMessage } from './sign.ts'

export const send = command({
  name: 'send',
  summary: 'sign, POST to /v1/messages, print the answer (receipt)',
  positionals: [MESSAGE_POSITIONAL],
  options: {
    ...SIGNING_OPTIONS,
    url: URL_OPTION,
    'save-jws': { type: 'string', value: 'FILE', description: 'also write the JWS sent to FILE (for receipt verify --jws)' },
    ...TLS_OPTIONS,
  },
  async run ({ values, positionals }, io) {
    const jws = await signMessage(values.key, positionals[0] as string, values.fresh)
    if (values['save-jws']) writeFileSync(values['save-jws'], jws + '\n')
    const body = await callLeix(io, values, (client) => client.submit(jws))
    if (body === undefined) return EXIT.failed
    io.stdout.write(JSON.stringify(body, null, 2) + '\n')
    return EXIT.ok
  },
})
