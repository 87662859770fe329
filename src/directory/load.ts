import { readFileSync } from 'node:fs'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import type { JWK } from 'jose'
import type { Agency, Directory, LegalInstrument } from './types.ts'
import { isTimeZone } from '../policy/calendar.ts'
import { CRIME_AREAS } from '../intake/message.ts'
import { countryFootnote, countryName } from './names.ts'

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020

export class DirectoryError extends Error {
  override readonly name = 'DirectoryError'
}

interface DirectoryFile {
  euMemberStates: string[]
  riskCountries?: string[]
  hubReviewBody?: string
  agencies: Agency[]
  instruments: Array<Omit<LegalInstrument, 'maxRetention'> & { maxRetention?: LegalInstrument['maxRetention']; maxRetentionDays?: number }>
}

/** Loads and validates a directory file; throws DirectoryError naming the bad field. */
export function loadDirectory (path: string, opts: { allowInsecureLoopbackWebhooks?: boolean } = {}): Directory {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new DirectoryError(`directory ${path}: ${(err as Error).message}`)
  }
  return buildDirectory(raw, { ...opts, source: path })
}

/** Validates a parsed directory document and indexes it. */
export function buildDirectory (raw: unknown, opts: { allowInsecureLoopbackWebhooks?: boolean; source?: string } = {}): Directory {
  const source = opts.source ?? 'directory'
  const schema = JSON.parse(readFileSync(new URL('../../schemas/directory.schema.json', import.meta.url), 'utf8'))
  const ajv = addFormats(new Ajv2020({ allErrors: true, useDefaults: true, strict: false }))
  const validate = ajv.compile(schema)
  if (!validate(raw)) {
    const lines = (validate.errors ?? []).slice(0, 10).map((e) => `${e.instancePath || '/'}: ${e.message}`)
    throw new DirectoryError(`${source} is invalid:\n  ${lines.join('\n  ')}`)
  }
  const doc = raw as DirectoryFile
  const agencies = new Map<string, Agency>()
  const keyOwners = new Map<string, string>()
  const certificateOwners = new Map<string, string>()
  doc.agencies.forEach((agency, i) => {
    if (agencies.has(agency.id)) throw new DirectoryError(`${source}: /agencies/${i}/id: duplicate agency ${agency.id}`)
    const prefix = agency.id.split('-')[0]
    if (prefix !== agency.country) throw new DirectoryError(`${source}: /agencies/${i}/id: ${agency.id} does not start with its country ${agency.country}`)
    if (agency.timeZone !== undefined && !isTimeZone(agency.timeZone)) throw new DirectoryError(`${source}: /agencies/${i}/timeZone: ${agency.timeZone} is not an IANA time zone`)
    if (agency.delivery.mode === 'push' && agency.delivery.webhook) {
      const url = new URL(agency.delivery.webhook)
      const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) || url.hostname.startsWith('127.')
      if (url.protocol !== 'https:' && !(opts.allowInsecureLoopbackWebhooks && loopback)) {
        throw new DirectoryError(`${source}: /agencies/${i}/delivery/webhook: must be https:// (S4)`)
      }
    }
    agency.jwks.keys.forEach((key: JWK, k) => {
      const kid = key.kid as string
      if (keyOwners.has(kid)) throw new DirectoryError(`${source}: /agencies/${i}/jwks/keys/${k}/kid: kid ${kid} is already used by ${keyOwners.get(kid)}`)
      keyOwners.set(kid, agency.id)
    })
    for (const subject of agency.tlsClientSubjects ?? []) {
      if (certificateOwners.has(subject)) throw new DirectoryError(`${source}: /agencies/${i}/tlsClientSubjects: ${subject} is already bound to ${certificateOwners.get(subject)}`)
      certificateOwners.set(subject, agency.id)
    }
    agencies.set(agency.id, agency)
  })
  const instruments = new Map<string, LegalInstrument>()
  doc.instruments.forEach((instrument, i) => {
    if (instruments.has(instrument.id)) throw new DirectoryError(`${source}: /instruments/${i}/id: duplicate instrument ${instrument.id}`)
    // An older directory states the D7 cap as `maxRetentionDays`: read it as a period of days.
    const { maxRetentionDays, maxRetention, ...rest } = instrument
    const read: LegalInstrument = { ...rest, maxRetention: maxRetention ?? { days: maxRetentionDays ?? 0 } }
    checkInstrument(read, agencies, `${source}: /instruments/${i}`)
    instruments.set(instrument.id, read)
  })
  const reviewBodies: Array<[string, string | undefined]> = [['/hubReviewBody', doc.hubReviewBody], ...doc.instruments.map((x, i): [string, string | undefined] => [`/instruments/${i}/reviewBody`, x.reviewBody])]
  for (const [path, body] of reviewBodies) {
    if (body !== undefined && !agencies.has(body)) throw new DirectoryError(`${source}: ${path}: ${body} is not an agency of the directory`)
  }
  return {
    agencies,
    instruments,
    ...(doc.hubReviewBody !== undefined ? { hubReviewBody: doc.hubReviewBody } : {}),
    keyOwners,
    euMemberStates: new Set(doc.euMemberStates),
    riskCountries: new Set(doc.riskCountries ?? []),
    certificateOwners,
  }
}

/**
 * L1: what the schema cannot say of an instrument: its hub and contact points are agencies of its
 * parties, its validity ends after it starts, its reservations are by parties about known crime areas.
 */
function checkInstrument (instrument: LegalInstrument, agencies: ReadonlyMap<string, Agency>, at: string): void {
  const fail = (path: string, message: string): never => { throw new DirectoryError(`${at}/${path}: ${message}`) }
  const parties = new Set(instrument.parties)
  if (instrument.validUntil !== undefined && instrument.validUntil < instrument.validFrom) {
    fail('validUntil', `${instrument.validUntil} is before validFrom ${instrument.validFrom}`)
  }
  if (instrument.covers !== 'any-two-parties') {
    instrument.covers.hub.forEach((id, h) => {
      const hub = agencies.get(id)
      if (hub === undefined) fail(`covers/hub/${h}`, `unknown agency ${id}`)
      else if (!parties.has(hub.country)) fail(`covers/hub/${h}`, `hub ${id} is of ${hub.country}, not a party to ${instrument.id}`)
    })
  }
  for (const [country, ids] of Object.entries(instrument.contactPoints ?? {})) {
    if (!parties.has(country)) fail(`contactPoints/${country}`, `${country} is not a party to ${instrument.id}`)
    ids.forEach((id, c) => {
      const agency = agencies.get(id)
      if (agency === undefined) fail(`contactPoints/${country}/${c}`, `unknown agency ${id}`)
      else if (agency.country !== country) fail(`contactPoints/${country}/${c}`, `${id} is an agency of ${agency.country}, not ${country}`)
    })
  }
  instrument.reservations?.forEach((reservation, r) => {
    if (!parties.has(reservation.party)) fail(`reservations/${r}/party`, `${reservation.party} is not a party to ${instrument.id}`)
    const unknown = (reservation.crimeAreas ?? []).filter((area) => !(CRIME_AREAS as readonly string[]).includes(area))
    if (unknown.length > 0) fail(`reservations/${r}/crimeAreas`, `unknown crime area ${unknown.join(', ')}`)
  })
}

/** The public view of an agency for `GET /v1/agencies`. */
export function publicAgency (agency: Agency): Record<string, unknown> {
  return {
    id: agency.id,
    name: agency.name,
    country: agency.country,
    countryName: countryName(agency.country),
    ...(countryFootnote(agency.country) !== undefined ? { footnote: countryFootnote(agency.country) } : {}),
    clearance: agency.clearance,
    languages: agency.languages,
    delivery: { mode: agency.delivery.mode },
    jwks: agency.jwks,
  }
}
