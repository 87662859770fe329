// R1: the Steering Group report. Aggregates only (no content, no personal data, no officer ids, no
// case references), composed from the owning repositories' read functions; small cells suppressed.
import { countRefusalsByGround } from '../audit/query.ts'
import { countHoldsByRule, countMessagesByKind, countUndeliverableByPair } from '../delivery/messages-repository.ts'
import { countExchangesBy, reportExchangeIds, timelinessByPair, type ReportScope } from '../exchanges/exchanges-repository.ts'
import { AWAITING_ANSWER } from '../exchanges/state.ts'
import type { Queryable } from '../store/db.ts'
import { DomainError } from '../errors.ts'

/** A count or median; null when suppressed (a small cell). */
export type Cell = number | null

export interface SteeringReport {
  period: { from: string; to: string }
  scope: { agency: string | null }
  minCount: number
  generatedAt: string
  suppressedCells: number
  volumes: {
    byPair: { from: string; to: string; count: Cell }[]
    byInstrument: { instrument: string; count: Cell }[]
    byKind: { kind: string; count: Cell }[]
    byCrimeArea: { crimeArea: string; count: Cell }[]
  }
  timeliness: { from: string; to: string; requests: Cell; withinDeadline: Cell; missed: Cell; open: Cell; medianHoursToAnswer: Cell }[]
  refusals: { ground: string; count: Cell }[]
  holds: { rule: string; held: Cell; released: Cell; rejected: Cell; pending: Cell }[]
  undeliverable: { from: string; to: string; count: Cell }[]
}

/** The longest period one report covers (a year and a day: a calendar year, whatever the leap days). */
export const MAX_PERIOD_DAYS = 367

/**
 * The period [from, to) from ISO dates or date-times (a date is midnight UTC). Unparsable, empty
 * or reversed periods, and periods longer than MAX_PERIOD_DAYS, are `invalid-period`.
 */
export function parsePeriod (from: string | undefined, to: string | undefined): { from: Date; to: Date } {
  const parse = (name: string, v: string | undefined): Date => {
    // ISO 8601 only (Date.parse accepts much more): a date, or a date-time with an offset.
    if (v === undefined || !/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(v)) {
      throw new DomainError('invalid-period', `${name} must be an ISO 8601 date or date-time with an offset`, { extra: { parameter: name } })
    }
    const d = new Date(v)
    if (Number.isNaN(d.getTime())) throw new DomainError('invalid-period', `${name} is not a valid date`, { extra: { parameter: name } })
    return d
  }
  const f = parse('from', from)
  const t = parse('to', to)
  if (t.getTime() <= f.getTime()) throw new DomainError('invalid-period', 'to must be after from', { extra: { parameter: 'to' } })
  if (t.getTime() - f.getTime() > MAX_PERIOD_DAYS * 86_400_000) {
    throw new DomainError('invalid-period', `a report covers at most ${MAX_PERIOD_DAYS} days`, { extra: { parameter: 'to' } })
  }
  return { from: f, to: t }
}

/** A count as published: 0 stays 0, 0 < n < min is suppressed (null). */
export function suppress (n: number, min: number): Cell {
  return n > 0 && n < min ? null : n
}

/**
 * Complementary suppression: a group whose cells add up to a published (or derivable) total must
 * never have exactly one suppressed cell, or subtraction gives it back. The smallest other
 * non-zero published cell is suppressed as well; if there is none, `fallback` (the group's total
 * cell) is, when given. Mutates `cells` (an array of holders) through `get`/`set`.
 */
function complement<T> (cells: T[], get: (c: T) => Cell, raw: (c: T) => number, set: (c: T) => void, fallback?: () => void): void {
  if (cells.filter((c) => get(c) === null).length !== 1) return
  const candidates = cells.filter((c) => get(c) !== null && raw(c) > 0).sort((a, b) => raw(a) - raw(b))
  const next = candidates[0]
  if (next !== undefined) set(next)
  else fallback?.()
}

export async function steeringReport (db: Queryable, s: ReportScope, o: { minCount: number; now: Date }): Promise<SteeringReport> {
  const min = o.minCount
  const ids = await reportExchangeIds(db, s)
  // An agency's report counts what it may see; a supervisor's filtered one counts that agency's exchanges whole.
  const seer = s.supervisor ? null : s.agency
  const [pairs, instruments, areas, timeliness, kinds, holds, undeliverable, refusals] = await Promise.all([
    countExchangesBy(db, s, 'pair'),
    countExchangesBy(db, s, 'instrument'),
    countExchangesBy(db, s, 'crimeArea'),
    timelinessByPair(db, s, o.now, [...AWAITING_ANSWER]),
    countMessagesByKind(db, ids, seer),
    countHoldsByRule(db, ids, seer),
    countUndeliverableByPair(db, ids, seer),
    countRefusalsByGround(db, ids),
  ])

  // One-dimensional tables: each partitions a total a reader could learn from another table.
  const table = <R extends { count: number }, K extends Record<string, unknown>>(rows: R[], key: (r: R) => K): (K & { count: Cell })[] => {
    const cells = rows.map((r) => ({ out: { ...key(r), count: suppress(r.count, min) } as K & { count: Cell }, raw: r.count }))
    complement(cells, (c) => c.out.count, (c) => c.raw, (c) => { c.out.count = null })
    return cells.map((c) => c.out)
  }

  const timelinessOut = timeliness.map((r) => {
    const out = {
      from: r.requester, to: r.responder, requests: suppress(r.requests, min), withinDeadline: suppress(r.within, min),
      missed: suppress(r.missed, min), open: suppress(r.open, min),
      medianHoursToAnswer: r.answered > 0 && r.answered >= min && r.median_hours !== null ? Math.round(Number(r.median_hours) * 10) / 10 : null,
    }
    const parts = [
      { get: () => out.withinDeadline, raw: r.within, set: () => { out.withinDeadline = null } },
      { get: () => out.missed, raw: r.missed, set: () => { out.missed = null } },
      { get: () => out.open, raw: r.open, set: () => { out.open = null } },
    ]
    complement(parts, (p) => p.get(), (p) => p.raw, (p) => p.set(), () => { out.requests = null })
    return { out }
  })

  const holdsOut = holds.map((r) => {
    const out = { rule: r.rule, held: suppress(r.held, min), released: suppress(r.released, min), rejected: suppress(r.rejected, min), pending: suppress(r.pending, min) }
    const parts = [
      { get: () => out.released, raw: r.released, set: () => { out.released = null } },
      { get: () => out.rejected, raw: r.rejected, set: () => { out.rejected = null } },
      { get: () => out.pending, raw: r.pending, set: () => { out.pending = null } },
    ]
    complement(parts, (p) => p.get(), (p) => p.raw, (p) => p.set(), () => { out.held = null })
    return out
  })

  const report: SteeringReport = {
    period: { from: s.from.toISOString(), to: s.to.toISOString() },
    scope: { agency: s.agency },
    minCount: min,
    generatedAt: o.now.toISOString(),
    suppressedCells: 0,
    volumes: {
      byPair: table(pairs, (r) => ({ from: r.a, to: r.b ?? '' })),
      byInstrument: table(instruments, (r) => ({ instrument: r.a })),
      byKind: table(kinds, (r) => ({ kind: r.kind })),
      byCrimeArea: table(areas, (r) => ({ crimeArea: r.a })),
    },
    timeliness: timelinessOut.map((t) => t.out),
    refusals: table(refusals, (r) => ({ ground: r.ground })),
    holds: holdsOut,
    undeliverable: table(undeliverable, (r) => ({ from: r.sender, to: r.recipient })),
  }
  // Every null is a suppressed cell, except a median with no answer at all (nothing to suppress).
  const nulls = (rows: object[]): number => rows.reduce<number>((n, r) => n + Object.values(r).filter((v) => v === null).length, 0)
  const noAnswer = timeliness.filter((r) => r.answered === 0).length
  report.suppressedCells = nulls(report.volumes.byPair) + nulls(report.volumes.byInstrument) + nulls(report.volumes.byKind) +
    nulls(report.volumes.byCrimeArea) + nulls(report.timeliness) - noAnswer + nulls(report.refusals) + nulls(report.holds) + nulls(report.undeliverable)
  return report
}
