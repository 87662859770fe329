// `leix report`: the Steering Group report (R1) for a period, as JSON, CSV or SVG.
import { writeFile } from 'node:fs/promises'
import { TLS_OPTIONS, TOKEN_OPTION, URL_OPTION, callLeix } from '../api.ts'
import { EXIT, command } from '../command.ts'

export const report = command({
  name: 'report',
  summary: 'the Steering Group report for exchanges opened in [--from, --to)',
  description: `Aggregates only, small cells suppressed (null in JSON, "suppressed" in CSV). An officer,
auditor or dpo token reports on its agency; a supervisor token on all, or on --agency.`,
  options: {
    from: { type: 'string', value: 'DATE', required: true, description: 'ISO date or date-time: opened at or after' },
    to: { type: 'string', value: 'DATE', required: true, description: 'ISO date or date-time: opened before' },
    agency: { type: 'string', value: 'AGENCY', description: "supervisor only: that agency's exchanges" },
    format: { type: 'string', choices: ['json', 'csv', 'svg'], default: 'json', description: 'JSON, CSV (one table, a section column) or an SVG chart' },
    out: { type: 'string', value: 'FILE', description: 'write the report to FILE instead of stdout' },
    token: TOKEN_OPTION,
    url: URL_OPTION,
    ...TLS_OPTIONS,
  },
  async run ({ values }, io) {
    const q = { from: values.from, to: values.to, ...(values.agency !== undefined ? { agency: values.agency } : {}) }
    const format = values.format as 'json' | 'csv' | 'svg'
    const text = await callLeix(io, values, async (client) => format === 'json'
      ? JSON.stringify(await client.report(q), null, 2) + '\n'
      : await client.reportText(q, format), { needsToken: 'report' })
    if (text === undefined) return EXIT.failed
    if (values.out !== undefined) {
      await writeFile(values.out, text)
      io.stderr.write(`report written to ${values.out}\n`)
    } else io.stdout.write(text)
    return EXIT.ok
  },
})
