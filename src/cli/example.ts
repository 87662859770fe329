import { randomUUID } from 'node:crypto'

/** A valid example message for the walkthrough and tests: a normal request under PCC-SEE. */
export function exampleMessage (o: { from: string; to: string; kind: 'request' | 'spontaneous'; officer: string; now?: Date }): Record<string, unknown> {
  const now = o.now ?? new Date()
  const eraseBy = new Date(now.getTime() + 365 * 86400_000).toISOString()
  const base = {
    id: randomUUID(),
    kind: o.kind,
    from: { agency: o.from, officer: o.officer },
    to: { agency: o.to },
    createdAt: now.toISOString(),
    caseRef: 'CASE-2026-0815',
    crimeAreas: ['drug-trafficking', 'organised-crime'],
    legalBasis: { instrument: 'PCC-SEE', article: 'Art. 5' },
    urgency: { level: 'normal' },
    handling: { code: 'H2', classification: 'BASIC_PROTECTION' },
    dataSubjects: [{ ref: 'SUBJ-7F3A', category: 'suspect' }],
    retention: { eraseBy },
    body: { text: 'Request for vehicle registration and border-crossing records for the subject.' },
  }
  if (o.kind === 'spontaneous') {
    return {
      ...base,
      purpose: { statement: 'Own-initiative information on a shipment of cocaine expected at the port of Bar.' },
      evaluation: { source: 'B', information: '2' },
      body: { facts: 'A container registered to a front company is due on 3 December.', assessments: 'Likely linked to the network under investigation.' },
    }
  }
  return {
    ...base,
    purpose: {
      statement: 'Identify the vehicles used by a suspected trafficking network.',
      offence: 'Unauthorised production and trafficking of narcotic drugs (Criminal Code Art. 283)',
      facts: 'Seizure of 40 kg of cannabis on 12 November; the driver named the subject as organiser.',
      availabilityGrounds: 'The subject is a resident of the requested country and holds a vehicle registered there.',
      personLink: 'The subject is the suspected organiser of the shipment.',
      necessity: 'Needed to identify further vehicles before the next shipment; no less intrusive source is available.',
    },
  }
}
