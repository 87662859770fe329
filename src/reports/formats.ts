// R1: the report as CSV (one table, a `section` column) and as an SVG chart of timeliness per pair.
import type { Cell, SteeringReport } from './steering.ts'

/** CSV columns: every section's rows in one table; a column a section does not use is empty. */
export const CSV_COLUMNS = ['section', 'from', 'to', 'key', 'count', 'requests', 'withinDeadline', 'missed', 'open', 'medianHoursToAnswer', 'held', 'released', 'rejected', 'pending'] as const
type CsvRow = Partial<Record<(typeof CSV_COLUMNS)[number], string | Cell>>

/** RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. Suppressed cells read `suppressed`. */
function field (v: string | Cell | undefined): string {
  if (v === undefined) return ''
  const s = v === null ? 'suppressed' : String(v)
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}

export function reportCsv (r: SteeringReport): string {
  const rows: CsvRow[] = [
    ...r.volumes.byPair.map((x) => ({ section: 'volume-pair', from: x.from, to: x.to, count: x.count })),
    ...r.volumes.byInstrument.map((x) => ({ section: 'volume-instrument', key: x.instrument, count: x.count })),
    ...r.volumes.byKind.map((x) => ({ section: 'volume-kind', key: x.kind, count: x.count })),
    ...r.volumes.byCrimeArea.map((x) => ({ section: 'volume-crime-area', key: x.crimeArea, count: x.count })),
    ...r.timeliness.map((x) => ({ section: 'timeliness', from: x.from, to: x.to, requests: x.requests, withinDeadline: x.withinDeadline, missed: x.missed, open: x.open, medianHoursToAnswer: x.medianHoursToAnswer })),
    ...r.refusals.map((x) => ({ section: 'refusal', key: x.ground, count: x.count })),
    ...r.holds.map((x) => ({ section: 'hold', key: x.rule, held: x.held, released: x.released, rejected: x.rejected, pending: x.pending })),
    ...r.undeliverable.map((x) => ({ section: 'undeliverable', from: x.from, to: x.to, count: x.count })),
  ]
  return [CSV_COLUMNS.join(','), ...rows.map((row) => CSV_COLUMNS.map((c) => field(row[c])).join(','))].join('\r\n') + '\r\n'
}

function esc (s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;')
}

/**
 * Timeliness per pair as horizontal stacked bars (within deadline, missed, open), each segment
 * labelled with its count; a pair with a suppressed part is drawn as a hatched bar reading
 * "suppressed (fewer than N)". Self-contained: no script, no external reference.
 */
export function reportSvg (r: SteeringReport): string {
  const rowH = 28
  const left = 170
  const width = 640
  const barW = width - left - 20
  const top = 50
  const height = top + Math.max(r.timeliness.length, 1) * rowH + 40
  const colours = { within: '#2e7d32', missed: '#c62828', open: '#f9a825' }
  const period = `${r.period.from} to ${r.period.to}`
  const scope = r.scope.agency ?? 'all agencies'
  const desc = r.timeliness.length === 0
    ? `No requests with a deadline opened in ${period} for ${scope}.`
    : r.timeliness.map((t) => `${t.from} to ${t.to}: ` + (t.withinDeadline === null || t.missed === null || t.open === null
      ? 'suppressed'
      : `${t.withinDeadline} within deadline, ${t.missed} missed, ${t.open} open`)).join('; ') + '.'
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="t d" font-family="sans-serif" font-size="12">`,
    `<title id="t">Timeliness per agency pair, ${esc(period)}, ${esc(scope)}</title>`,
    `<desc id="d">${esc(desc)} Cells under ${r.minCount} are suppressed.</desc>`,
    '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#eee"/><line x1="0" y1="0" x2="0" y2="6" stroke="#999" stroke-width="2"/></pattern></defs>',
    `<text x="10" y="20" font-size="14" font-weight="bold">Timeliness per pair (${esc(period)})</text>`,
    `<g font-size="11"><rect x="${left}" y="28" width="10" height="10" fill="${colours.within}"/><text x="${left + 14}" y="37">within deadline</text>` +
      `<rect x="${left + 110}" y="28" width="10" height="10" fill="${colours.missed}"/><text x="${left + 124}" y="37">missed</text>` +
      `<rect x="${left + 180}" y="28" width="10" height="10" fill="${colours.open}"/><text x="${left + 194}" y="37">open</text>` +
      `<rect x="${left + 240}" y="28" width="10" height="10" fill="url(#hatch)"/><text x="${left + 254}" y="37">suppressed</text></g>`,
  ]
  const max = Math.max(1, ...r.timeliness.map((t) => (t.withinDeadline ?? 0) + (t.missed ?? 0) + (t.open ?? 0)))
  r.timeliness.forEach((t, i) => {
    const y = top + i * rowH
    out.push(`<g><text x="10" y="${y + 17}">${esc(`${t.from} → ${t.to}`)}</text>`)
    if (t.withinDeadline === null || t.missed === null || t.open === null) {
      out.push(`<rect x="${left}" y="${y + 4}" width="${barW}" height="18" fill="url(#hatch)"><title>suppressed</title></rect>`,
        `<text x="${left + 6}" y="${y + 17}">suppressed (fewer than ${r.minCount})</text></g>`)
      return
    }
    let x = left
    for (const [key, n] of [['within', t.withinDeadline], ['missed', t.missed], ['open', t.open]] as const) {
      if (n === 0) continue
      const w = Math.max(1, Math.round((n / max) * barW))
      const label = `${key === 'within' ? 'within deadline' : key}: ${n}`
      out.push(`<rect x="${x}" y="${y + 4}" width="${w}" height="18" fill="${colours[key]}"><title>${esc(label)}</title></rect>`)
      if (w >= 24) out.push(`<text x="${x + 4}" y="${y + 17}" fill="#fff">${n}</text>`)
      x += w
    }
    out.push('</g>')
  })
  if (r.timeliness.length === 0) out.push(`<text x="10" y="${top + 17}">No requests with a deadline in this period.</text>`)
  out.push('</svg>')
  return out.join('\n') + '\n'
}
