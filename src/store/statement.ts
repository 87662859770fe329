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
