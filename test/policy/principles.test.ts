import t from 'tap'
import type { Message } from '../../src/intake/message.ts'
import { checkPrinciples, RULES, HOLD_RULES } from '../../src/policy/index.ts'
import { makeContext, request } from './fixtures.ts'

t.test('every rule runs and every finding is collected', async (t) => {
  const bad: Message = {
    ...request(),
    to: { agency: 'XK-KP' },
    caseRef: ' ',
    purpose: { statement: 'x' },
    urgency: { level: 'urgent' },
    handling: { code: 'H3', classification: 'EU_SECRET' },
    dataSubjects: [{ ref: 'P1', category: 'victim', minor: true, specialCategories: ['health'] }],
    retention: { eraseBy: '2020-01-01T00:00:00Z' },
    createdAt: '2026-03-02T11:00:00Z',
  }
  const { violations, holds } = checkPrinciples(bad, makeContext())
  t.same([...new Set(violations.map((v) => v.rule))], ['L1', 'L2', 'L3', 'T1', 'T4', 'S2', 'S3', 'D2', 'D7'])
  t.same(holds.map((h) => h.rule), ['D3'])
  for (const v of violations) t.match(v, { path: /^\//, message: /\S/ }, `${v.rule} has a pointer and a message`)
})

t.test('pure: the same input gives the same output and the message is not changed', async (t) => {
  const m = request()
  const before = JSON.stringify(m)
  const ctx = makeContext()
  t.same(checkPrinciples(m, ctx), checkPrinciples(m, ctx))
  t.equal(JSON.stringify(m), before)
  t.ok(RULES.length >= 14 && HOLD_RULES.length === 3)
})
