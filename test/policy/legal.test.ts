import t from 'tap'
import type { Message } from '../../src/intake/message.ts'
import { checkLegalBasis } from '../../src/policy/legal.ts'
import { findings, makeContext, messageOf, request } from './fixtures.ts'

t.test('L1 legal basis', async (t) => {
  t.same(findings(request(), 'L1'), [], 'AL to RS under PCC-SEE')
  t.same(findings({ ...request(), to: { agency: 'EU-EUROPOL' }, legalBasis: { instrument: 'EUROPOL-OA' } }, 'L1'), [], 'AL to Europol under EUROPOL-OA')

  t.same(findings({ ...request(), legalBasis: { instrument: 'NO-SUCH' } }, 'L1'), [{ rule: 'L1', path: '/legalBasis/instrument' }])
  t.same(findings({ ...request(), to: { agency: 'XK-KP' } }, 'L1'), [{ rule: 'L1', path: '/to/agency' }], 'Kosovo is not a PCC-SEE party')
  t.same(findings({ ...request(), from: { agency: 'XK-KP', officer: 'x' } }, 'L1'), [{ rule: 'L1', path: '/from/agency' }])
  t.same(
    findings({ ...request(), legalBasis: { instrument: 'EU-2023/977' } }, 'L1'),
    [{ rule: 'L1', path: '/from/agency' }, { rule: 'L1', path: '/to/agency' }],
    'neither AL nor RS is a party to 2023/977'
  )
  const [v] = checkLegalBasis({ ...request(), to: { agency: 'XK-KP' } }, makeContext())
  t.match(v?.message, /XK.*PCC-SEE/, 'names the missing party and the instrument')
  t.same(findings({ ...request(), to: { agency: 'XX-NONE' } }, 'L1'), [], 'unknown agency is left to S1')
})

t.test('L2 purpose, necessity, proportionality', async (t) => {
  t.same(findings(request(), 'L2'), [])
  t.same(findings(messageOf('response'), 'L2'), [], 'only requests need the full purpose')
  const noPerson: Message = { ...request(), dataSubjects: [] }
  delete noPerson.purpose.personLink
  t.same(findings(noPerson, 'L2'), [], 'personLink only when the request names persons')

  t.same(findings({ ...request(), purpose: { statement: ' ' } }, 'L2'), [
    { rule: 'L2', path: '/purpose/statement' },
    { rule: 'L2', path: '/purpose/offence' },
    { rule: 'L2', path: '/purpose/facts' },
    { rule: 'L2', path: '/purpose/availabilityGrounds' },
    { rule: 'L2', path: '/purpose/personLink' },
    { rule: 'L2', path: '/purpose/necessity' },
  ])
  t.same(findings({ ...request(), purpose: { ...request().purpose, necessity: '' } }, 'L2'), [{ rule: 'L2', path: '/purpose/necessity' }])
})

t.test('L3 accountability', async (t) => {
  t.same(findings(request(), 'L3'), [])
  t.same(findings({ ...request(), caseRef: '  ' }, 'L3'), [{ rule: 'L3', path: '/caseRef' }])
  t.same(findings({ ...request(), from: { agency: 'AL-ASP', officer: '\t' } }, 'L3'), [{ rule: 'L3', path: '/from/officer' }])
})

t.test('L4 refusal grounds are a closed list', async (t) => {
  for (const ground of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) {
    t.same(findings({ ...messageOf('refusal'), refusal: { ground, reasons: 'r' } }, 'L4'), [], `ground (${ground})`)
  }
  t.same(findings({ ...messageOf('refusal'), refusal: { ground: 'z', reasons: 'r' } }, 'L4'), [{ rule: 'L4', path: '/refusal/ground' }])
  t.same(findings({ ...messageOf('refusal'), refusal: { ground: 'a', reasons: ' ' } }, 'L4'), [{ rule: 'L4', path: '/refusal/reasons' }])
  const noRefusal: Message = messageOf('refusal')
  delete noRefusal.refusal
  t.same(findings(noRefusal, 'L4'), [{ rule: 'L4', path: '/refusal' }], 'defensive, the schema already requires it')
})

t.test('L5 third-country transfer', async (t) => {
  const toAustria: Message = { ...request(), to: { agency: 'AT-BK' } }
  t.same(findings(request(), 'L5'), [], 'AL to RS: no EU side')
  t.same(findings({ ...toAustria, from: { agency: 'DE-BKA', officer: 'x' }, legalBasis: { instrument: 'EU-2023/977' } }, 'L5'), [], 'DE to AT: both EU')
  const withBasis: Message = { ...toAustria, legalBasis: { instrument: 'PCC-SEE', transfer: { basis: 'safeguards', reference: 'PCC-SEE Art. 31' } } }
  t.same(findings(withBasis, 'L5'), [], 'AL to AT with a transfer basis')
  t.same(
    findings({ ...messageOf('response'), from: { agency: 'EU-EUROPOL', officer: 'x' }, legalBasis: { instrument: 'EUROPOL-OA', transfer: { basis: 'adequacy', reference: 'OA Art. 9' } } }, 'L5'),
    [],
    'Europol (EU side) to AL with a basis'
  )

  t.same(findings(toAustria, 'L5'), [{ rule: 'L5', path: '/legalBasis/transfer' }], 'AL to AT without a basis')
  t.same(
    findings({ ...messageOf('response'), from: { agency: 'EU-EUROPOL', officer: 'x' }, legalBasis: { instrument: 'EUROPOL-OA' } }, 'L5'),
    [{ rule: 'L5', path: '/legalBasis/transfer' }],
    'an EU body counts as the EU side'
  )
  t.same(
    findings({ ...toAustria, legalBasis: { instrument: 'PCC-SEE', transfer: { basis: 'derogation', reference: ' ' } } }, 'L5'),
    [{ rule: 'L5', path: '/legalBasis/transfer/reference' }]
  )
  t.same(
    findings({ ...request(), to: { agency: 'DE-BAFIN' }, legalBasis: { instrument: 'EUROPOL-OA', transfer: { basis: 'safeguards', reference: 'r' } } }, 'L5'),
    [{ rule: 'L5', path: '/to/agency' }],
    'recipient must be a competent authority'
  )
})
