import t from 'tap'
import type { Message } from '../../src/intake/message.ts'
import { findings, messageOf, request } from './fixtures.ts'

t.test('Q1 evaluation on messages that carry information', async (t) => {
  t.same(findings(messageOf('response'), 'Q1'), [])
  t.same(findings(messageOf('spontaneous'), 'Q1'), [])
  t.same(findings(request(), 'Q1'), [], 'a request carries no information to evaluate')
  t.same(findings(messageOf('refusal'), 'Q1'), [])

  for (const kind of ['response', 'spontaneous'] as const) {
    const m: Message = messageOf(kind)
    delete m.evaluation
    t.same(findings(m, 'Q1'), [{ rule: 'Q1', path: '/evaluation' }], `${kind} without evaluation`)
  }
})
