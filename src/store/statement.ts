import { Params } from './params.ts'

/**
 * A piece of SQL from the repository that owns its table. Its values are numbered into the
 * statement's shared `Params` as it is written, so parts of several owners compose into one
 * statement without anyone splicing another module's SQL or counting its placeholders.
 */
export type SqlPart = (p: Params) => string

/** A whole statement, ready for `query(text, values)`. */
export interface Statement {
  text: string
  values: unknown[]
}

/** A single part as a statement of its own. */
export function statement (part: SqlPart): Statement {
  const p = new Params()
  return { text: part(p), values: p.values }
}

/**
 * One statement from named parts: `WITH a AS (part), b AS (part) final`. PostgreSQL runs
 * data-modifying CTEs all or nothing, in one snapshot: a multi-table change in one round trip.
 * The owner of the transaction composes it; each part comes from its table's repository.
 */
export function withParts (parts: readonly (readonly [name: string, part: SqlPart])[], final: SqlPart): Statement {
  const p = new Params()
  const ctes = parts.map(([name, part]) => `${name} AS (${part(p)})`)
  return { text: `WITH ${ctes.join(', ')} ${final(p)}`, values: p.values }
}

/**
 * Rows for one table, read by its INSERT from a single JSON parameter (`jsonb_to_recordset`).
 * The SQL depends on the table alone, never on how many rows there are: the rows of many units
 * of work merge into one INSERT per table, and a statement of such inserts has one text, hence
 * one prepared plan, whatever the batch size. The table's repository writes `sql`.
 */
export interface RowsInsert {
  /** The table (an identifier): names its CTE and keys the merge. */
  table: string
  rows: readonly object[]
  /** The INSERT reading the rows from the placeholder `param` (a JSON array of objects keyed by column). */
  sql: (param: string) => string
}

/** Work to commit as one statement: set-based inserts, and parts of free SQL. */
export interface InsertUnit {
  /** Merged table by table with the other units of a statement. */
  inserts: readonly RowsInsert[]
  /** Each a CTE of its own (rarer rows that are not set-based). */
  parts?: readonly (readonly [name: string, part: SqlPart])[]
}

/**
 * One statement committing every unit: an INSERT per table over the rows of all units (in the
 * order the tables first appear), then each unit's own parts, as data-modifying CTEs (PostgreSQL
 * runs them all or nothing). Without free parts its text depends on the tables only, so it is
 * named and PostgreSQL parses and plans it once per connection.
 */
export function insertStatement (units: readonly InsertUnit[]): Statement & { name?: string } {
  const p = new Params()
  const tables = new Map<string, { sql: RowsInsert['sql']; rows: object[] }>()
  for (const unit of units) {
    for (const insert of unit.inserts) {
      if (!/^[a-z_]+$/.test(insert.table)) throw new Error(`not a table name: ${insert.table}`)
      const merged = tables.get(insert.table)
      if (merged) merged.rows.push(...insert.rows)
      else tables.set(insert.table, { sql: insert.sql, rows: [...insert.rows] })
    }
  }
  const ctes = [...tables].map(([table, t]) => `insert_${table} AS (${t.sql(p.add(JSON.stringify(t.rows)))})`)
  const free = units.flatMap((unit, i) => (unit.parts ?? []).map(([name, part]) => `${name}_${i} AS (${part(p)})`))
  const text = `WITH ${[...ctes, ...free].join(', ')} SELECT 1`
  return free.length === 0 ? { name: `leix-insert:${[...tables.keys()].join(',')}`, text, values: p.values } : { text, values: p.values }
}
