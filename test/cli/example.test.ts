// `leix example` for every ordered pair of the sample directory's agencies: the message passes
// intake's own checks (schema, sender binding, every principle, no hold), or the command says that
// the two share no legal instrument. Every reply kind, with --in-reply-to, likewise.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { loadDirectory } from '../../src/directory/load.ts'
import { compileMessageValidator } from '../../src/intake/message.ts'
import { checkPrinciples, checkSenderBinding, DEFAULT_POLICY_LIMITS } from '../../src/policy/index.ts'
import { EXAMPLE_KINDS, REPLY_KINDS } from '../../src/cli/example.ts'
import { coverageGap, inForce } from '../../src/policy/legal.ts'
import { leix } from './run.ts'

const DIRECTORY = 'config/directory.sample.json'
const directory = loadDirectory(DIRECTORY)
const validate = compileMessageValidator()
const agencies = [...directory.agencies.keys()]

/** L1: an instrument in force covers the pair (parties, hub, contact points). */
function sharesInstrument (from: string, to: string): boolean {
  const [a, b] = [directory.agencies.get(from)!, directory.agencies.get(to)!]
  return from !== to && [...directory.instruments.values()].some((i) => inForce(i, new Date()) && coverageGap(i, a, b) === undefined)
}

/** What intake would say of the message, short of the signature and the stored exchange. */
function intakeFindings (value: unknown): string[] {
  const v = validate(value)
  if (!v.ok) return v.errors.map((e) => `schema ${e.path}: ${e.message}`)
  const binding = checkSenderBinding(v.message.from.agency, v.message, directory)
  const { violations, holds } = checkPrinciples(v.message, { directory, now: new Date(), limits: DEFAULT_POLICY_LIMITS })
  return [...binding, ...violations, ...holds].map((f) => `${f.rule} ${f.path}: ${f.message}`)
}

t.test('every ordered pair: a request intake accepts, or "no legal instrument"', async (t) => {
  let written = 0
  for (const from of agencies) {
    for (const to of agencies) {
      const r = await leix(['example', '--from', from, '--to', to, '--directory', DIRECTORY])
      if (sharesInstrument(from, to)) {
        t.equal(r.code, 0, `${from} -> ${to}: ${r.stderr}`)
        t.same(intakeFindings(JSON.parse(r.stdout)), [], `${from} -> ${to} passes intake's checks`)
        written++
      } else {
        t.equal(r.code, 1, `${from} -> ${to} exits 1`)
        t.equal(r.stdout, '')
        t.match(r.stderr, from === to ? /cannot send a message to itself/ : /no legal instrument in the directory in force covers .* and .*rule L1/, `${from} -> ${to} says why`)
      }
    }
  }
  t.ok(written > 50, `${written} pairs can exchange`)
})

t.test('L1: the pairs the issue named: an instrument that covers them, and a transfer basis where L5 asks', async (t) => {
  const cases: [string, string, string, boolean][] = [
    ['EU-EUROPOL', 'AL-ASP', 'EUROPOL-OA-AL', true],
    ['EU-EUROPOL', 'BA-MSB', 'EUROPOL-OA-BA', true],
    ['DE-BKA', 'EU-EUROPOL', 'EUROPOL-REG', false],
    ['EU-EUROJUST', 'RS-MUP', 'EUROJUST-CA-RS', true],
    ['EU-EUROPOL', 'XK-KP', 'EUROPOL-WA-XK', true],
    ['XK-KP', 'AL-ASP', 'BIL-AL-XK', false],
    ['DE-BKA', 'AT-BK', 'EU-2023/977', false],
    ['AT-BK', 'RS-MUP', 'PCC-SEE', true],
  ]
  for (const [from, to, instrument, transfer] of cases) {
    const r = await leix(['example', '--from', from, '--to', to, '--directory', DIRECTORY])
    const m = JSON.parse(r.stdout)
    t.equal(m.legalBasis.instrument, instrument, `${from} -> ${to}`)
    t.equal(m.legalBasis.transfer !== undefined, transfer, `${from} -> ${to} transfer basis`)
  }
  const none = await leix(['example', '--from', 'XK-KP', '--to', 'RS-MUP', '--directory', DIRECTORY])
  t.equal(none.code, 1)
  t.match(none.stderr, /XK \(XK-KP\) and RS \(RS-MUP\)/)
  // Hub instruments never cover partner and partner, nor a country's other agencies than its contact point.
  for (const [from, to] of [['BA-DKPT', 'EU-EUROPOL'], ['EU-EUROJUST', 'BA-MSB'], ['XK-KP', 'EU-EUROJUST']]) {
    const r = await leix(['example', '--from', from!, '--to', to!, '--directory', DIRECTORY])
    t.equal(r.code, 1, `${from} -> ${to}: no instrument covers the pair`)
  }
  const wa = JSON.parse((await leix(['example', '--from', 'XK-KP', '--to', 'EU-EUROPOL', '--directory', DIRECTORY])).stdout)
  t.same(wa.dataSubjects, [], 'a working arrangement allows no personal data: the example names no data subject')
})

t.test('every kind, for every pair that can exchange', async (t) => {
  for (const kind of EXAMPLE_KINDS) {
    const reply = (REPLY_KINDS as readonly string[]).includes(kind)
    for (const [from, to] of [['AL-ASP', 'RS-MUP'], ['RS-MUP', 'EU-EUROPOL'], ['DE-BKA', 'IT-SCIP'], ['XK-KP', 'AL-ASP']]) {
      const r = await leix(['example', '--kind', kind, '--from', from!, '--to', to!, '--directory', DIRECTORY, ...(reply ? ['--in-reply-to', randomUUID()] : [])])
      t.equal(r.code, 0, `${kind} ${from} -> ${to}: ${r.stderr}`)
      const m = JSON.parse(r.stdout)
      t.equal(m.kind, kind)
      t.same(intakeFindings(m), [], `${kind} ${from} -> ${to} passes intake's checks`)
    }
  }
})

t.test('--in-reply-to belongs to the reply kinds only', async (t) => {
  const missing = await leix(['example', '--kind', 'response', '--directory', DIRECTORY])
  t.equal(missing.code, 2)
  t.match(missing.stderr, /a response answers a message: give --in-reply-to MESSAGE_ID/)
  const extra = await leix(['example', '--in-reply-to', randomUUID(), '--directory', DIRECTORY])
  t.equal(extra.code, 2)
  t.match(extra.stderr, /a request opens an exchange and takes no --in-reply-to/)
  const unknown = await leix(['example', '--to', 'FR-PN', '--directory', DIRECTORY])
  t.equal(unknown.code, 1)
  t.match(unknown.stderr, /FR-PN is not an agency in the directory/)
})
