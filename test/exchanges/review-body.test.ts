// D4: the reviewer of a hold is not the sender's own DPO alone. The directory names a review body
// per instrument (or the hub's); its DPO releases, the sender's DPO may still reject its own message.
import t from 'tap'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildTestApp, requestMessage, sign, submit, tokenFor } from '../helpers.ts'
import { reviewAuthority } from '../../src/policy/index.ts'
import { makeDirectory } from '../policy/fixtures.ts'

t.test('D4 who may decide on a hold (pure): review body releases, sender may only reject', async (t) => {
  const base = makeDirectory()
  const pcc = base.instruments.get('PCC-SEE')
  if (pcc === undefined) throw new Error('fixture')
  const withBody = { ...base, instruments: new Map([...base.instruments, ['PCC-SEE', { ...pcc, reviewBody: 'AT-BK' }]]) }
  const hub = { ...base, hubReviewBody: 'EU-EUROPOL' }
  const held = { sender: 'AL-ASP', legalBasis: 'PCC-SEE' }
  const cases: Array<[name: string, dir: typeof base, agency: string, expected: ReturnType<typeof reviewAuthority>]> = [
    ['no review body: the sender decides', base, 'AL-ASP', { release: true, reject: true, authority: 'sender-dpo' }],
    ['no review body: nobody else', base, 'AT-BK', null],
    ['instrument review body releases', withBody, 'AT-BK', { release: true, reject: true, authority: 'review-body' }],
    ['the sender may only reject', withBody, 'AL-ASP', { release: false, reject: true, authority: 'sender-dpo' }],
    ['a third agency nothing', withBody, 'RS-MUP', null],
    ['hub review body by default', hub, 'EU-EUROPOL', { release: true, reject: true, authority: 'review-body' }],
    ['hub: the sender may only reject', hub, 'AL-ASP', { release: false, reject: true, authority: 'sender-dpo' }],
  ]
  for (const [name, dir, agency, expected] of cases) t.same(reviewAuthority(dir, held, agency), expected, name)
  t.same(reviewAuthority({ ...withBody, hubReviewBody: 'EU-EUROPOL' }, held, 'AT-BK')?.authority, 'review-body', "the instrument's body before the hub's")
})

t.test('D4 review body: listed for its DPO, released by it; the sender\'s DPO cannot release alone', async (t) => {
  const sample = JSON.parse(readFileSync(new URL('../../config/directory.sample.json', import.meta.url), 'utf8'))
  sample.hubReviewBody = 'EU-EUROPOL'
  const dir = mkdtempSync(join(tmpdir(), 'leix-review-'))
  const directoryPath = join(dir, 'directory.json')
  writeFileSync(directoryPath, JSON.stringify(sample))
  const { app, rt, clock } = await buildTestApp(t, { config: { directoryPath } })
  const minor = { dataSubjects: [{ ref: 'SUBJ-M1', category: 'victim', dateOfBirth: '2015-06-01' }] }
  const send = async () => {
    const res = await submit(app, await sign(requestMessage(clock, { from: 'AL-ASP', to: 'RS-MUP' }, minor)))
    t.equal(res.json().status, 'held', 'D3 by date of birth')
    return res.json() as { messageId: string }
  }
  const one = await send()
  const two = await send()
  const alDpo = tokenFor(app, 'AL-ASP', ['dpo'], 'dpo-al')
  const hubDpo = tokenFor(app, 'EU-EUROPOL', ['dpo'], 'dpo-hub')
  const rsDpo = tokenFor(app, 'RS-MUP', ['dpo'], 'dpo-rs')
  const decide = (id: string, token: string, decision: string) => app.inject({
    method: 'POST', url: `/v1/messages/${id}/review`, headers: { authorization: `Bearer ${token}` }, payload: { decision, justification: 'reviewed under D3' },
  })
  // Both were received at the same (manual) time: the queue orders them by id.
  const queue = async (token: string) => ((await app.inject({ url: '/v1/review/held', headers: { authorization: `Bearer ${token}` } })).json().items as Array<{ messageId: string; mayRelease: boolean; mayReject: boolean }>)
    .sort((a, b) => a.messageId.localeCompare(b.messageId))
  const [first, second] = [one.messageId, two.messageId].sort()

  t.same((await queue(hubDpo)).map((i) => [i.messageId, i.mayRelease, i.mayReject]), [[first, true, true], [second, true, true]], "the review body's queue")
  t.same((await queue(alDpo)).map((i) => [i.messageId, i.mayRelease, i.mayReject]), [[first, false, true], [second, false, true]], "the sender's queue shows it may only reject")
  t.same(await queue(rsDpo), [], 'the recipient learns nothing')

  // The review body's DPO reads what it decides on, as a justified consultation; nobody else of it,
  // and never the recipient.
  const read = (id: string, token: string) => app.inject({
    url: `/v1/messages/${id}`, headers: { authorization: `Bearer ${token}`, 'leix-justification': 'reviewing the hold under D3' },
  })
  const hubRead = await read(one.messageId, hubDpo)
  t.equal(hubRead.statusCode, 200, "the review body's DPO reads the held message")
  t.equal(hubRead.json().message.dataSubjects[0].dateOfBirth, '2015-06-01')
  const consulted = (await rt.pool.query("SELECT event FROM audit_events WHERE type = 'message.consulted' AND message_id = $1", [one.messageId])).rows
  t.same(consulted.map((e) => [e.event.actor.agency, e.event.recipients]), [['EU-EUROPOL', ['EU-EUROPOL']]], 'A1: the reading is logged for the review body')
  t.equal((await read(one.messageId, tokenFor(app, 'EU-EUROPOL', ['officer'], 'officer-hub'))).statusCode, 404, "the review body's officers do not")
  t.equal((await read(one.messageId, rsDpo)).statusCode, 404, 'the recipient does not')

  t.equal((await decide(one.messageId, alDpo, 'release')).statusCode, 403, "the sender's DPO cannot release alone")
  t.equal((await decide(one.messageId, rsDpo, 'release')).statusCode, 404, 'the recipient: as if it did not exist')
  t.equal((await decide(one.messageId, hubDpo, 'release')).statusCode, 200, 'the review body releases')
  t.equal((await decide(two.messageId, alDpo, 'reject')).statusCode, 200, 'the sender withdraws its own')
  const events = (await rt.pool.query("SELECT message_id, event FROM audit_events WHERE type = 'review.decided' ORDER BY seq")).rows
  t.same(events.map((e) => [e.message_id, e.event.actor.agency, e.event.details]), [
    [one.messageId, 'EU-EUROPOL', { decision: 'release', authority: 'review-body' }],
    [two.messageId, 'AL-ASP', { decision: 'reject', authority: 'sender-dpo' }],
  ], 'who decided under which authority')
  t.same(events.map((e) => e.event.agencies), [['AL-ASP', 'EU-EUROPOL'], ['AL-ASP']], 'the decision is in the review body\'s record too, never the recipient\'s')
  t.equal((await read(one.messageId, hubDpo)).statusCode, 404, 'released, the message is no longer the review body\'s to read')
})
