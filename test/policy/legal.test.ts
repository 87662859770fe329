import t from 'tap'
import type { Message } from '../../src/intake/message.ts'
import { checkLegalBasis, checkTransfer, isThirdCountryTransfer, transferDetails } from '../../src/policy/legal.ts'
import { findings, makeContext, makeDirectory, messageOf, request } from './fixtures.ts'

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

t.test('L5 third-country transfer: only data leaving the EU side for a third country', async (t) => {
  const basis = { basis: 'safeguards' as const, reference: 'PCC-SEE Art. 31' }
  // from, to, whether L5 applies: every direction between a member state, an EU body and a third country.
  const DIRECTIONS: [string, string, string, boolean][] = [
    ['EU to third country', 'AT-BK', 'AL-ASP', true],
    ['EU body to third country', 'EU-EUROPOL', 'AL-ASP', true],
    ['third country to EU', 'AL-ASP', 'AT-BK', false],
    ['third country to EU body', 'RS-MUP', 'EU-EUROPOL', false],
    ['EU to EU', 'DE-BKA', 'AT-BK', false],
    ['EU to EU body', 'DE-BKA', 'EU-EUROPOL', false],
    ['third country to third country', 'AL-ASP', 'RS-MUP', false],
  ]
  const directory = makeContext().directory
  for (const [name, from, to, applies] of DIRECTIONS) {
    const without: Message = { ...messageOf('response'), from: { agency: from, officer: 'x' }, to: { agency: to }, legalBasis: { instrument: 'EUROPOL-OA' } }
    const withBasis: Message = { ...without, legalBasis: { instrument: 'EUROPOL-OA', transfer: basis } }
    t.equal(isThirdCountryTransfer(without, directory), applies, `L5: ${name} (${from} to ${to}) is ${applies ? '' : 'not '}a transfer`)
    t.same(findings(without, 'L5'), applies ? [{ rule: 'L5', path: '/legalBasis/transfer' }] : [], `L5: ${name} without a basis`)
    t.same(findings(withBasis, 'L5'), [], `L5: ${name} with a basis`)
    t.same(transferDetails(withBasis, directory), applies ? { transferBasis: 'safeguards', transferReference: 'PCC-SEE Art. 31' } : {}, `L5: ${name}: the sealed event ${applies ? 'keeps' : 'has no'} basis`)
    t.same(
      findings({ ...without, legalBasis: { instrument: 'EUROPOL-OA', transfer: { basis: 'derogation', reference: ' ' } } }, 'L5'),
      applies ? [{ rule: 'L5', path: '/legalBasis/transfer/reference' }] : [],
      `L5: ${name}: a blank reference`
    )
  }
  // The recipient of a transfer must be a competent authority; inside the EU L5 does not ask.
  const base = makeDirectory()
  const withFiu = { ...base, agencies: new Map([...base.agencies, ['AL-FIU', { ...base.agencies.get('AL-ASP')!, id: 'AL-FIU', competentAuthority: false }]]) }
  const ctx = makeContext({ directory: withFiu })
  const toFiu = (from: string): Message => ({ ...messageOf('response'), from: { agency: from, officer: 'x' }, to: { agency: 'AL-FIU' }, legalBasis: { instrument: 'EUROPOL-OA', transfer: basis } })
  t.same(findings(toFiu('AT-BK'), 'L5', ctx), [{ rule: 'L5', path: '/to/agency' }], 'L5: EU to a third-country body that is not a competent authority')
  t.same(findings(toFiu('RS-MUP'), 'L5', ctx), [], 'L5: third country to third country: not asked')
  t.same(findings({ ...toFiu('DE-BKA'), to: { agency: 'DE-BAFIN' } }, 'L5'), [], 'L5: EU to EU: not asked')
  const [v] = checkTransfer({ ...messageOf('response'), from: { agency: 'AT-BK', officer: 'x' }, legalBasis: { instrument: 'EUROPOL-OA' } }, makeContext())
  t.match(v?.message, /leaving .*EU.*third country/, 'the violation says data leaves the EU')
})
