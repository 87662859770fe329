// Calendar arithmetic for deadlines counted in days (rule T2): a day-counted deadline ends at the
// same wall-clock time in a given IANA time zone, so it is 71 or 73 elapsed hours across a DST
// change. Pure: Intl only, no clock.

const formatters = new Map<string, Intl.DateTimeFormat>()

function formatter (timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    })
    formatters.set(timeZone, f)
  }
  return f
}

/** Is `timeZone` an IANA zone this runtime knows? */
export function isTimeZone (timeZone: string): boolean {
  try {
    formatter(timeZone)
    return true
  } catch {
    return false
  }
}

/** Offsets by zone and minute: computing one costs a `formatToParts`, and a deadline needs five. */
const offsets = new Map<string, number>()

/** The zone's offset from UTC at `ms`, in milliseconds (wall clock minus UTC). */
export function zoneOffset (ms: number, timeZone: string): number {
  const minute = Math.floor(ms / 60_000)
  const key = `${timeZone} ${minute}`
  const known = offsets.get(key)
  if (known !== undefined) return known
  // Kept only when the minute's first and last millisecond agree: no change of offset inside it.
  const first = computeOffset(minute * 60_000, timeZone)
  if (computeOffset(minute * 60_000 + 59_999, timeZone) !== first) return computeOffset(ms, timeZone)
  if (offsets.size >= 10_000) offsets.clear()
  offsets.set(key, first)
  return first
}

function computeOffset (ms: number, timeZone: string): number {
  const parts: Record<string, number> = {}
  for (const p of formatter(timeZone).formatToParts(new Date(ms))) if (p.type !== 'literal') parts[p.type] = Number(p.value)
  const wall = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!)
  return wall - (ms - (((ms % 1000) + 1000) % 1000))
}

/**
 * `days` calendar days after `from`, at the same wall-clock time in `timeZone`. A wall time that
 * the day's DST change skips moves on by the gap (02:30 on a spring-forward day ends 03:30); one
 * that happens twice ends at its first occurrence.
 */
export function addCalendarDays (from: Date, days: number, timeZone: string): Date {
  const ms = from.getTime()
  const wall = ms + zoneOffset(ms, timeZone) + days * 86_400_000
  // The instant whose wall clock is `wall`: try the offsets in force around it.
  const before = zoneOffset(wall - 86_400_000, timeZone)
  const after = zoneOffset(wall + 86_400_000, timeZone)
  const candidates = [wall - before, wall - after].filter((c) => c + zoneOffset(c, timeZone) === wall).sort((a, b) => a - b)
  if (candidates.length > 0) return new Date(candidates[0]!)
  // Skipped wall time (spring forward): the same elapsed time after the gap's start.
  return new Date(wall - before)
}
