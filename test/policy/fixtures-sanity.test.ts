import t from 'tap'
import { checkPrinciples } from '../../src/policy/index.ts'
import { compileMessageValidator } from '../../src/intake/message.ts'
import { KINDS, messageOf, makeContext } from './fixtures.ts'
t.test('every kind of fixture message is schema-valid and passes every principle', async (t) => {
  const validate = compileMessageValidator()
  for (const kind of KINDS) {
    const m = messageOf(kind)
    t.same(validate(JSON.parse(JSON.stringify(m))), { ok: true, message: m }, `${kind} is schema-valid`)
    t.same(checkPrinciples(m, makeContext()), { violations: [], holds: [] }, `${kind} passes the principles`)
  }
})
