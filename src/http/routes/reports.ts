import type { FastifyInstance } from 'fastify'
import { recordEvent } from '../../audit/record.ts'
import type { Clock } from '../../config/clock.ts'
import { DomainError } from '../../errors.ts'
import { reportCsv, reportSvg } from '../../reports/formats.ts'
import { parsePeriod, steeringReport } from '../../reports/steering.ts'
import type { Pool } from '../../store/db.ts'
import { actorOf, isSupervisor, principalOf, requireRole } from '../auth.ts'
import { problemSchema } from '../problems.ts'

const problems = { '4xx': { description: 'problem+json', ...problemSchema } }
const cell = { type: ['integer', 'null'], minimum: 0 } as const
const pairCount = { type: 'object', additionalProperties: false, required: ['from', 'to', 'count'], properties: { from: { type: 'string' }, to: { type: 'string' }, count: cell } } as const
const keyed = (key: string) => ({ type: 'array', items: { type: 'object', additionalProperties: false, required: [key, 'count'], properties: { [key]: { type: 'string' }, count: cell } } }) as const

/** The report's JSON (R1): every count and median is a number, or null when suppressed. */
export const steeringReportSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['period', 'scope', 'minCount', 'generatedAt', 'suppressedCells', 'volumes', 'timeliness', 'refusals', 'holds', 'undeliverable'],
  properties: {
    period: { type: 'object', additionalProperties: false, required: ['from', 'to'], properties: { from: { type: 'string', format: 'date-time' }, to: { type: 'string', format: 'date-time' } } },
    scope: { type: 'object', additionalProperties: false, required: ['agency'], properties: { agency: { type: ['string', 'null'] } } },
    minCount: { type: 'integer', minimum: 1 },
    generatedAt: { type: 'string', format: 'date-time' },
    suppressedCells: { type: 'integer', minimum: 0 },
    volumes: {
      type: 'object',
      additionalProperties: false,
      required: ['byPair', 'byInstrument', 'byKind', 'byCrimeArea'],
      properties: { byPair: { type: 'array', items: pairCount }, byInstrument: keyed('instrument'), byKind: keyed('kind'), byCrimeArea: keyed('crimeArea') },
    },
    timeliness: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['from', 'to', 'requests', 'withinDeadline', 'missed', 'open', 'medianHoursToAnswer'],
        properties: {
          from: { type: 'string' }, to: { type: 'string' }, requests: cell, withinDeadline: cell, missed: cell, open: cell,
          medianHoursToAnswer: { type: ['number', 'null'], minimum: 0 },
        },
      },
    },
    refusals: keyed('ground'),
    holds: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['rule', 'held', 'released', 'rejected', 'pending'],
        properties: { rule: { type: 'string' }, held: cell, released: cell, rejected: cell, pending: cell },
      },
    },
    undeliverable: { type: 'array', items: pairCount },
  },
} as const

const FORMATS = ['json', 'csv', 'svg'] as const
type Format = (typeof FORMATS)[number]

/** `?format=` wins; otherwise the first of CSV or SVG the Accept header names, JSON by default. */
function formatOf (query: Format | undefined, accept: string | undefined): Format {
  if (query) return query
  const a = (accept ?? '').toLowerCase()
  const csv = a.indexOf('text/csv')
  const svg = a.indexOf('image/svg+xml')
  const json = a.indexOf('application/json')
  const first = [['csv', csv], ['svg', svg], ['json', json]].filter(([, i]) => (i as number) >= 0).sort((x, y) => (x[1] as number) - (y[1] as number))[0]
  return (first?.[0] as Format | undefined) ?? 'json'
}

/** R1: the Steering Group report. */
export async function reportRoutes (app: FastifyInstance, deps: { pool: Pool; clock: Clock; minCount: number }): Promise<void> {
  app.get<{ Querystring: { from: string; to: string; agency?: string; format?: Format } }>('/v1/reports/exchanges', {
    schema: {
      summary: 'Steering Group report (R1): aggregates of the exchanges opened in [from, to), small cells suppressed',
      description: 'Officers, auditors and DPOs get their own agency\'s exchanges (either direction); a supervisor gets all, or one agency\'s with `agency`. ' +
        'Aggregates only: no content, no personal data, no officer ids, no case references. Counts above 0 and under LEIX_REPORT_MIN_COUNT are null (suppressed), ' +
        'with complementary suppression so no suppressed cell can be recovered by subtraction; no totals are given. ' +
        '`format` (or Accept): json (default), csv (text/csv, one table with a `section` column) or svg (image/svg+xml, timeliness per pair). Recorded as report.generated.',
      tags: ['reports'],
      security: [{ bearer: [] }],
      produces: ['application/json', 'text/csv', 'image/svg+xml'],
      querystring: {
        type: 'object',
        additionalProperties: false,
        required: ['from', 'to'],
        properties: {
          from: { type: 'string', maxLength: 40, description: 'ISO 8601 date (midnight UTC) or date-time with offset: opened at or after' },
          to: { type: 'string', maxLength: 40, description: 'ISO 8601 date or date-time: opened before (at most 367 days after from)' },
          agency: { type: 'string', pattern: '^[A-Z]{2}-[A-Z0-9]+$', maxLength: 40, description: 'supervisor only: that agency\'s exchanges' },
          format: { type: 'string', enum: [...FORMATS] },
        },
      },
      response: { 200: { description: 'the report (JSON; CSV and SVG as text)', ...steeringReportSchema }, ...problems },
    },
  }, async (request, reply) => {
    const principal = principalOf(request)
    requireRole(principal, 'officer', 'auditor', 'dpo', 'supervisor')
    const supervisor = isSupervisor(principal)
    const { agency: asked, format: f } = request.query
    if (asked !== undefined && asked !== principal.agency && !supervisor) throw new DomainError('forbidden', 'only a supervisor may report on another agency')
    const period = parsePeriod(request.query.from, request.query.to)
    const agency = supervisor ? (asked ?? null) : principal.agency
    const format = formatOf(f, request.headers.accept)
    const now = deps.clock.now()
    const report = await steeringReport(deps.pool, { ...period, agency, supervisor }, { minCount: deps.minCount, now })
    // Recorded before it is answered; scope and period only, never the figures.
    await recordEvent(deps.pool, {
      type: 'report.generated', actor: actorOf(principal), agencies: agency === null ? [principal.agency] : [...new Set([principal.agency, agency])], outcome: 'ok',
      details: { from: report.period.from, to: report.period.to, scope: agency ?? 'all', format },
    }, now)
    reply.header('cache-control', 'no-store').header('vary', 'accept')
    if (format === 'csv') return reply.type('text/csv; charset=utf-8; header=present').header('content-disposition', 'attachment; filename="leix-report.csv"').send(reportCsv(report))
    if (format === 'svg') return reply.type('image/svg+xml; charset=utf-8').send(reportSvg(report))
    return report
  })
}
