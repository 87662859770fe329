import type { Queryable } from './db.ts'
import { insertStatement, type InsertUnit } from './statement.ts'

/** One unit of work, all or nothing: its set-based inserts and free parts (`insertStatement`). */
export type CommitUnit = InsertUnit

export interface GroupCommitOptions {
  /** Most units in one statement. @defaultValue 64 */
  maxBatch?: number
  /** Batches committing at once; units arriving meanwhile wait and form the next batch. @defaultValue 2 */
  maxInFlight?: number
}

interface Waiting {
  unit: CommitUnit
  resolve: () => void
  reject: (err: unknown) => void
}

/**
 * Group commit: units of work that arrive while earlier ones are committing share one statement,
 * hence one round trip and one COMMIT (one WAL flush) instead of one each. A unit alone goes at
 * once, so an idle gateway adds no wait; under load, batches form from what queued meanwhile.
 *
 * A batch is set-based: one INSERT per table over the rows of all its units (`insertStatement`),
 * so its SQL text is the same whatever its size and PostgreSQL plans it once per connection.
 *
 * Each unit stays all or nothing and is answered only once committed: a batch is a single
 * statement (PostgreSQL runs it whole or not at all); if it fails, every unit of it is run again
 * on its own, so one unit's failure (a duplicate id, a bad row, a lost connection) is reported to
 * that unit alone and never keeps the others from committing.
 */
export class GroupCommit {
  readonly #db: Queryable
  readonly #maxBatch: number
  readonly #maxInFlight: number
  readonly #waiting: Waiting[] = []
  #inFlight = 0
  #committing = 0

  constructor (db: Queryable, opts: GroupCommitOptions = {}) {
    this.#db = db
    this.#maxBatch = Math.max(1, opts.maxBatch ?? 64)
    this.#maxInFlight = Math.max(1, opts.maxInFlight ?? 2)
  }

  /** Units waiting or being committed (what load shedding watches). */
  get pending (): number {
    return this.#waiting.length + this.#committing
  }

  /** Commits `unit`; resolves once it is durable, rejects with its own error if it failed. */
  async commit (unit: CommitUnit): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#waiting.push({ unit, resolve, reject })
      this.#drain()
    })
  }

  #drain (): void {
    while (this.#inFlight < this.#maxInFlight && this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0, this.#maxBatch)
      this.#inFlight++
      this.#committing += batch.length
      void this.#run(batch).finally(() => {
        this.#inFlight--
        this.#committing -= batch.length
        this.#drain()
      })
    }
  }

  async #run (batch: Waiting[]): Promise<void> {
    if (batch.length > 1) {
      const together = insertStatement(batch.map((w) => w.unit))
      try {
        await this.#db.query(together)
        for (const w of batch) w.resolve()
        return
      } catch {
        // Nothing of the batch committed; each unit tries alone and gets its own answer.
      }
    }
    await Promise.all(batch.map(async (w) => {
      try {
        await this.#db.query(insertStatement([w.unit]))
        w.resolve()
      } catch (err) {
        w.reject(err)
      }
    }))
  }
}
