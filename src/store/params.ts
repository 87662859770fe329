/** Collects positional parameters while SQL is composed from parts: `p.add(v)` returns `$n`. */
export class Params {
  readonly values: unknown[] = []
  add (value: unknown): string {
    this.values.push(value)
    return `$${this.values.length}`
  }

  /** `(...)` list of placeholders for a row of values. */
  row (values: unknown[]): string {
    return `(${values.map((v) => this.add(v)).join(', ')})`
  }
}
