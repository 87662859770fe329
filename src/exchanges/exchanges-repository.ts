// The one module with SQL for `exchanges`. Status changes come through state.ts, which checks
// them against the state machine before they reach `updateExchange` or `statusChange`.
import { hiddenFromRecipient } from '../delivery/messages-repository.ts'
import { decodeCursor } from '../store/cursor.ts'
import type { Client, Queryable } from '../store/db.ts'
import type { RowsInsert, SqlPart } from '../store/statement.ts'
import type { ExchangeStatus } from './state.ts'

/** An exchange row as state changes read it (locked). */
export interface ExchangeRow {
  id: string
  requester: string
  responder: string
  opened_by: string
  kind: 'request' | 'spontaneous'
  urgency: 'urgent' | 'normal'
  status: ExchangeStatus
  opened_at: Date
  deadline: Date | null
  paused_at: Date | null
  legal_basis: string
  /** What the requested party stated (T2), if anything. */
  accessibility: 'direct' | 'indirect' | null
  /** T2 profile fixed when the exchange opened (null: opened before it was stored; never recomputed). */
  deadline_profile: '2023/977' | 'requester-set' | null
  /** IANA zone calendar days are counted in (the requested agency's, when the exchange opened). */
  time_zone: string | null
  /** P2: the request's BCP 47 language (null: opened before it was stored). */
  language: string | null
  overdue_at: Date | null
  delayed_until: Date | null
}

/** An exchange row as the read models show it. */
export interface ExchangeDbRow {
  id: string
  requester: string
  responder: string
  kind: 'request' | 'spontaneous'
  case_ref: string
  crime_areas: string[]
  legal_basis: string
  urgency: 'urgent' | 'normal'
  classification: string
  status: ExchangeStatus
  opened_at: Date
  deadline: Date | null
  deadline_basis: string | null
  answered_at: Date | null
  overdue_at: Date | null
  updated_at: Date
}

/** Columns a change may set besides `status` and `updated_at`. */
export type ExchangeChange = Partial<Record<'deadline' | 'accessibility' | 'deadline_basis' | 'overdue_at' | 'answered_at' | 'delayed_until' | 'paused_at', unknown>>

/** What opening an exchange stores. */
export interface NewExchange {
  id: string
  requester: string
  responder: string
  /** The opening message. */
  openedBy: string
  kind: string
  caseRef: string
  crimeAreas: string[]
  legalBasis: string
  urgency: string
  classification: string
  status: 'accepted' | 'held'
  openedAt: Date
  deadline: Date | null
  deadlineBasis: string | null
  deadlineProfile: string
  timeZone: string
  /** P2: the opening message's language; replies are checked against it. */
  language: string
}

/** The INSERT of a new exchange, as a part of intake's one-statement commit. */
export function insertExchange (e: NewExchange): RowsInsert {
  return {
    table: 'exchanges',
    rows: [{
      id: e.id, requester: e.requester, responder: e.responder, opened_by: e.openedBy, kind: e.kind, case_ref: e.caseRef, crime_areas: e.crimeAreas,
      legal_basis: e.legalBasis, urgency: e.urgency, classification: e.classification, status: e.status, opened_at: e.openedAt, deadline: e.deadline,
      deadline_basis: e.deadlineBasis, deadline_profile: e.deadlineProfile, time_zone: e.timeZone, language: e.language,
    }],
    sql: (param) => `INSERT INTO exchanges (id, requester, responder, opened_by, kind, case_ref, crime_areas, legal_basis, urgency, classification,
       status, opened_at, deadline, deadline_basis, updated_at, deadline_profile, time_zone, language)
     SELECT id, requester, responder, opened_by, kind, case_ref, crime_areas, legal_basis, urgency, classification,
       status, opened_at, deadline, deadline_basis, opened_at, deadline_profile, time_zone, language
       FROM jsonb_to_recordset(${param}::jsonb) AS r(id uuid, requester text, responder text, opened_by uuid, kind text, case_ref text, crime_areas text[],
         legal_basis text, urgency text, classification text, status text, opened_at timestamptz, deadline timestamptz, deadline_basis text,
         deadline_profile text, time_zone text, language text)`,
  }
}

/** Locks and returns an exchange row for a state change. */
export async function lockExchange (client: Client, id: string): Promise<ExchangeRow | undefined> {
  const { rows } = await client.query<ExchangeRow>('SELECT * FROM exchanges WHERE id = $1 FOR UPDATE', [id])
  return rows[0]
}

/**
 * Locks the exchange only if `messageId` opened it: a reply's delivery leaves the exchange row
 * alone, so it never holds up intake or the deadline watcher on that row.
 */
export async function lockOpenedExchange (client: Client, exchangeId: string, messageId: string): Promise<ExchangeRow | undefined> {
  const { rows } = await client.query<ExchangeRow>('SELECT * FROM exchanges WHERE id = $1 AND opened_by = $2 FOR UPDATE', [exchangeId, messageId])
  return rows[0]
}

/** Sets columns of an exchange and `updated_at`; a status only as state.ts decided it. */
export async function updateExchange (client: Client, id: string, set: ExchangeChange & { status?: ExchangeStatus }, at: Date): Promise<void> {
  const columns = Object.keys(set)
  await client.query(
    `UPDATE exchanges SET ${columns.map((c, i) => `${c} = $${i + 2}`).join(', ')}${columns.length ? ', ' : ''}updated_at = $${columns.length + 2} WHERE id = $1`,
    [id, ...Object.values(set), at]
  )
}

/**
 * Part: the exchange `openedBy` opened moves to `to`, if it is in one of `from` and the row
 * `guard.cte` (an earlier part of the statement) has `guard.column` in `guard.in`.
 */
export function statusChange (c: {
  id: string; openedBy: string; to: ExchangeStatus; from: readonly ExchangeStatus[]; at: Date
  guard: { cte: string; column: string; in: readonly string[] }
}): SqlPart {
  const { cte, column } = c.guard
  return (p) => `UPDATE exchanges SET status = ${p.add(c.to)}, updated_at = ${p.add(c.at)} FROM ${cte}
             WHERE exchanges.id = ${p.add(c.id)} AND exchanges.opened_by = ${p.add(c.openedBy)} AND ${cte}.${column} = ANY (${p.add(c.guard.in)}::text[])
               AND exchanges.status = ANY (${p.add(c.from)}::text[])`
}

/** The deadline of an exchange (null: none runs, or no such exchange). */
export async function deadlineOf (db: Queryable, id: string): Promise<Date | null> {
  const { rows } = await db.query<{ deadline: Date | null }>('SELECT deadline FROM exchanges WHERE id = $1', [id])
  return rows[0]?.deadline ?? null
}

/** The crime areas of an exchange: the purpose its messages serve. */
export async function crimeAreasOf (db: Queryable, id: string): Promise<string[]> {
  const { rows } = await db.query<{ crime_areas: string[] }>('SELECT crime_areas FROM exchanges WHERE id = $1', [id])
  return rows[0]?.crime_areas ?? []
}

export interface OverdueCandidate { id: string; requester: string; responder: string; status: ExchangeStatus; deadline: Date; delayed_until: Date | null; legal_basis: string; opened_by: string }

/**
 * Locks (SKIP LOCKED) up to `limit` exchanges in `statuses` whose deadline has passed at `now`,
 * not yet flagged overdue; a delayed one only once its announced delay has passed too.
 */
export async function claimOverdue (client: Client, now: Date, statuses: readonly ExchangeStatus[], limit: number): Promise<OverdueCandidate[]> {
  const { rows } = await client.query<OverdueCandidate>(
    `SELECT id, requester, responder, status, deadline, delayed_until, legal_basis, opened_by FROM exchanges
          WHERE overdue_at IS NULL AND answered_at IS NULL AND deadline <= $1 AND status = ANY ($2::text[])
            AND (status <> 'delayed' OR delayed_until IS NULL OR delayed_until <= $1)
          ORDER BY deadline LIMIT ${limit} FOR UPDATE SKIP LOCKED`,
    [now, statuses]
  )
  return rows
}

/** Exchanges flagged overdue and still awaiting their answer, counted by the responding agency (the metrics gauge). */
export async function countOverdueByResponder (db: Queryable, awaiting: readonly ExchangeStatus[]): Promise<{ agency: string; count: number }[]> {
  const { rows } = await db.query<{ agency: string; count: number }>(
    `SELECT responder AS agency, count(*)::int AS count FROM exchanges
      WHERE overdue_at IS NOT NULL AND answered_at IS NULL AND status = ANY ($1::text[]) GROUP BY responder`, [awaiting])
  return rows
}

/** Locks (SKIP LOCKED) up to `limit` answered or refused exchanges answered at `before` or earlier. */
export async function claimAnsweredBefore (client: Client, before: Date, limit: number): Promise<ExchangeRow[]> {
  const { rows } = await client.query<ExchangeRow>(
    `SELECT * FROM exchanges WHERE status IN ('answered', 'refused') AND answered_at <= $1
          ORDER BY answered_at LIMIT $2 FOR UPDATE SKIP LOCKED`, [before, limit])
  return rows
}

/** SQL: the exchange's opening message is visible to its responder (not held, not rejected by review). */
const openingVisible = (): string => `NOT ${hiddenFromRecipient('exchanges.opened_by')}`

/** The exchange if it exists, with `visible_to_responder`: false while its opening message is held (or was rejected). */
export async function findExchange (db: Queryable, id: string): Promise<(ExchangeDbRow & { visible_to_responder: boolean }) | undefined> {
  const { rows } = await db.query<ExchangeDbRow & { visible_to_responder: boolean }>(
    `SELECT exchanges.*, ${openingVisible()} AS visible_to_responder FROM exchanges WHERE id = $1`, [id])
  return rows[0]
}

export interface ExchangeQuery {
  direction?: 'incoming' | 'outgoing' | undefined
  status?: ExchangeStatus | undefined
  crimeArea?: string | undefined
  /** opened at or after, ISO 8601 */
  from?: string | undefined
  /** opened before, ISO 8601 */
  to?: string | undefined
  /** overdue (flagged, or past the deadline at `now` in one of `awaiting`), or not */
  overdue?: { overdue: boolean; now: Date; awaiting: readonly ExchangeStatus[] } | undefined
  cursor?: string | undefined
}

/** `agency`'s exchanges matching `q`, newest first, `limit` rows after the cursor. */
export async function pageExchanges (db: Queryable, agency: string, q: ExchangeQuery, limit: number): Promise<ExchangeDbRow[]> {
  const where: string[] = []
  const params: unknown[] = [agency]
  const add = (sql: string, value: unknown) => {
    params.push(value)
    where.push(sql.replace('?', `$${params.length}`))
  }
  if (q.direction === 'outgoing') where.push('requester = $1')
  else if (q.direction === 'incoming') where.push('responder = $1')
  else where.push('(requester = $1 OR responder = $1)')
  // An exchange opened by a held message does not exist for its responder (D4).
  where.push(`(requester = $1 OR ${openingVisible()})`)
  if (q.status) add('status = ?', q.status)
  if (q.crimeArea) add('? = ANY (crime_areas)', q.crimeArea)
  if (q.from) add('opened_at >= ?::timestamptz', q.from)
  if (q.to) add('opened_at < ?::timestamptz', q.to)
  if (q.overdue) {
    params.push(q.overdue.now)
    const n = `$${params.length}`
    const overdue = `(overdue_at IS NOT NULL OR (deadline < ${n} AND status IN (${q.overdue.awaiting.map((s) => `'${s}'`).join(',')})))`
    where.push(q.overdue.overdue ? overdue : `NOT ${overdue}`)
  }
  if (q.cursor) {
    const [at, id] = decodeCursor(q.cursor)
    params.push(at, id)
    where.push(`(opened_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`)
  }
  const { rows } = await db.query<ExchangeDbRow>(
    `SELECT * FROM exchanges WHERE ${where.join(' AND ')} ORDER BY opened_at DESC, id DESC LIMIT ${limit}`,
    params
  )
  return rows
}

/** A deadline warning (T2): a share of the time from opening to the deadline, or a time before it. */
export type DeadlineWarning = { key: string; fraction: number } | { key: string; beforeSeconds: number }

export interface WarningCandidate { id: string; requester: string; responder: string; status: ExchangeStatus; deadline: Date; legal_basis: string; opened_by: string }

/**
 * Locks (SKIP LOCKED) up to `limit` exchanges in `statuses` whose deadline still runs at `now` and
 * is near by `warning`, not yet warned for this warning and this deadline (a moved deadline warns again).
 */
export async function claimWarningDue (client: Client, now: Date, statuses: readonly ExchangeStatus[], warning: DeadlineWarning, limit: number): Promise<WarningCandidate[]> {
  const due = 'fraction' in warning
    ? 'opened_at + (deadline - opened_at) * $4::float8 <= $1'
    : 'deadline - make_interval(secs => $4::float8) <= $1'
  const { rows } = await client.query<WarningCandidate>(
    `SELECT id, requester, responder, status, deadline, legal_basis, opened_by FROM exchanges e
          WHERE overdue_at IS NULL AND answered_at IS NULL AND deadline > $1 AND status = ANY ($2::text[]) AND ${due}
            AND NOT EXISTS (SELECT 1 FROM deadline_warnings w WHERE w.exchange_id = e.id AND w.warning = $3 AND w.deadline = e.deadline)
          ORDER BY deadline LIMIT ${limit} FOR UPDATE SKIP LOCKED`,
    [now, statuses, warning.key, 'fraction' in warning ? warning.fraction : warning.beforeSeconds]
  )
  return rows
}

/** Records that `warning` was sent for the exchange's current `deadline`. */
export async function recordWarningSent (client: Client, id: string, warning: string, deadline: Date, at: Date): Promise<void> {
  await client.query('INSERT INTO deadline_warnings (exchange_id, warning, deadline, sent_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [id, warning, deadline, at])
}

/** Flags an exchange overdue. */
export async function markOverdue (client: Client, id: string, at: Date): Promise<void> {
  await client.query('UPDATE exchanges SET overdue_at = $2, updated_at = $2 WHERE id = $1', [id, at])
}

/** The exchanges a report covers: opened in [from, to), of `agency` (either side; as a responder only once the opening is released) or all (null). */
export interface ReportScope { from: Date; to: Date; agency: string | null; supervisor: boolean }

function reportWhere (s: ReportScope): { where: string; params: unknown[] } {
  const params: unknown[] = [s.from, s.to]
  let where = 'opened_at >= $1 AND opened_at < $2'
  if (s.agency !== null) {
    params.push(s.agency)
    // A supervisor sees an agency's exchanges whole; the agency itself does not see one opened by a held message (D4).
    where += s.supervisor ? ' AND (requester = $3 OR responder = $3)' : ` AND (requester = $3 OR (responder = $3 AND ${openingVisible()}))`
  }
  return { where, params }
}

/** R1: ids of the exchanges in the report's scope (the other tables' counts are restricted to them). */
export async function reportExchangeIds (db: Queryable, s: ReportScope): Promise<string[]> {
  const { where, params } = reportWhere(s)
  const { rows } = await db.query<{ id: string }>(`SELECT id FROM exchanges WHERE ${where}`, params)
  return rows.map((r) => r.id)
}

/** R1: exchange counts by one grouping (agency pair, instrument, crime area). */
export async function countExchangesBy (db: Queryable, s: ReportScope, by: 'pair' | 'instrument' | 'crimeArea'): Promise<{ a: string; b: string | null; count: number }[]> {
  const { where, params } = reportWhere(s)
  const select = by === 'pair' ? 'requester AS a, responder AS b' : by === 'instrument' ? 'legal_basis AS a, NULL::text AS b' : 'unnest(crime_areas) AS a, NULL::text AS b'
  const { rows } = await db.query<{ a: string; b: string | null; count: number }>(
    `SELECT a, b, count(*)::int AS count FROM (SELECT ${select} FROM exchanges WHERE ${where}) x GROUP BY a, b ORDER BY a, b`, params)
  return rows
}

export interface TimelinessRow { requester: string; responder: string; requests: number; within: number; missed: number; open: number; answered: number; median_hours: number | null }

/**
 * R1, T2/T3: requests with a deadline per pair. The deadline that counts is the later of the
 * deadline and an accepted delay (a late delay notice is refused at intake, so never extends it).
 * Missed: flagged overdue, answered (or refused) after it, or still awaiting past it at `now`;
 * a miss stays a miss once answered. Open: awaiting an answer, not (yet) missed.
 */
export async function timelinessByPair (db: Queryable, s: ReportScope, now: Date, awaiting: readonly ExchangeStatus[]): Promise<TimelinessRow[]> {
  const { where, params } = reportWhere(s)
  params.push(now, awaiting)
  const n = params.length - 1
  const due = 'GREATEST(deadline, COALESCE(delayed_until, deadline))'
  // Never NULL (answered_at is NULL while open), so that NOT missed is true for an open exchange.
  const missed = `(overdue_at IS NOT NULL OR coalesce(answered_at > ${due}, false) OR (answered_at IS NULL AND status = ANY ($${n + 1}::text[]) AND ${due} <= $${n}))`
  const { rows } = await db.query<TimelinessRow>(
    `SELECT requester, responder, count(*)::int AS requests,
            count(*) FILTER (WHERE answered_at IS NOT NULL AND NOT ${missed})::int AS within,
            count(*) FILTER (WHERE ${missed})::int AS missed,
            count(*) FILTER (WHERE answered_at IS NULL AND status = ANY ($${n + 1}::text[]) AND NOT ${missed})::int AS open,
            count(answered_at)::int AS answered,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM answered_at - opened_at) / 3600) AS median_hours
       FROM exchanges WHERE ${where} AND kind = 'request' AND deadline IS NOT NULL
      GROUP BY requester, responder ORDER BY requester, responder`, params)
  return rows
}
