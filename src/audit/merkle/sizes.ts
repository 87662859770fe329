// Integer helpers on tree sizes and leaf indexes. Plain arithmetic, not bit operators: those
// truncate to 32 bits and a log may outgrow 2^31 events.

export function isCount (n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

/** Largest power of two strictly below n (n >= 2): RFC 9162's split point k. */
export function splitPoint (n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/** log2(n) when n is a power of two, else -1. */
export function levelOf (n: number): number {
  let level = 0
  let size = 1
  while (size < n) { size *= 2; level++ }
  return size === n ? level : -1
}

export function half (n: number): number {
  return Math.floor(n / 2)
}

export function isOdd (n: number): boolean {
  return n % 2 === 1
}

/** Leaves [lo, hi) form one perfect subtree of the tree (a power-of-two size at an aligned start). */
export function isPerfect (lo: number, hi: number): boolean {
  const n = hi - lo
  return levelOf(n) >= 0 && lo % n === 0
}
