// R1: the Steering Group report over a real database, seeded through intake (signed messages).
import t from 'tap'
import { parse as parseCsv } from 'csv-parse/sync'
import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { reportCsv } from '../../src/reports/formats.ts'
import { suppress, type SteeringReport } from '../../src/reports/steering.ts'
import { buildTestApp, requestMessage, sign, submit, tokenFor } from '../helpers.ts'
import { leix } from '../cli/run.ts'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const SUP = { agency: 'EU-EUROPOL', sub: 'steering-1' }
const MIN = 3

t.test('R1: suppression of a cell (0 stays 0, 0 < n < min suppressed, min shown)', async (t) => {
  for (const min of [1, 2, 5, 10]) {
    const table: [number, number | null][] = [[0, 0], [1, min > 1 ? null : 1], [min - 1, min - 1 === 0 ? 0 : null], [min, min], [min + 7, min + 7]]
    for (const [n, want] of table) t.equal(suppress(n, min), want, `min ${min}, n ${n}`)
  }
})

t.test('R1: the Steering Group report', async (tt) => {
  const t = tt
  const { app, clock, rt, services } = await buildTestApp(t, { config: { supervisors: [`${SUP.agency}/${SUP.sub}`], reportMinCount: MIN } })
  const from = new Date(clock.now().getTime() - 86_400_000).toISOString()
  const send = async (m: Record<string, unknown>) => {
    const res = await submit(app, await sign(m))
    if (res.statusCode !== 202) throw new Error(res.body)
    return res.json() as { exchangeId: string; status: string }
  }
  // AL-ASP → RS-MUP: 4 requests (one refused on ground c, one answered); RS-MUP → AL-ASP: 1;
  // AL-ASP → ME-UP: 1 held (a minor); ME-UP → MK-MVR: 5, a pair AL-ASP is not part of.
  const alToRs = []
  for (let i = 0; i < 4; i++) { const m = requestMessage(clock); alToRs.push(m); await send(m) }
  await send(requestMessage(clock, { from: 'RS-MUP', to: 'AL-ASP' }))
  const held = await send(requestMessage(clock, { from: 'AL-ASP', to: 'ME-UP' }, { dataSubjects: [{ ref: 'SUBJ-M1', category: 'victim', minor: true }] }))
  t.equal(held.status, 'held')
  for (let i = 0; i < 5; i++) await send(requestMessage(clock, { from: 'ME-UP', to: 'MK-MVR' }))
  await send(requestMessage(clock, { from: 'RS-MUP', to: 'AL-ASP' }, { kind: 'response', inReplyTo: alToRs[0]?.id, evaluation: { source: 'B', information: '2' } }))
  await send(requestMessage(clock, { from: 'RS-MUP', to: 'AL-ASP' }, { kind: 'refusal', inReplyTo: alToRs[1]?.id, refusal: { ground: 'c', reasons: 'Disproportionate for the case' } }))
  // Past every deadline: the two unanswered AL-ASP requests are missed, not open.
  clock.advance(40 * 86_400_000)
  const to = new Date(clock.now().getTime() + 1000).toISOString()
  const q = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`
  const get = (token: string, extra = '', headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url: `/v1/reports/exchanges?${q}${extra}`, headers: { authorization: `Bearer ${token}`, ...headers } })
  const officer = tokenFor(app, 'AL-ASP')
  const supervisor = tokenFor(app, SUP.agency, ['supervisor'], SUP.sub)

  const checkSuppression = (t: typeof tt, r: SteeringReport) => {
    const cells = [
      ...r.volumes.byPair.map((x) => x.count), ...r.volumes.byInstrument.map((x) => x.count), ...r.volumes.byKind.map((x) => x.count),
      ...r.volumes.byCrimeArea.map((x) => x.count), ...r.refusals.map((x) => x.count), ...r.undeliverable.map((x) => x.count),
      ...r.timeliness.flatMap((x) => [x.requests, x.withinDeadline, x.missed, x.open]), ...r.holds.flatMap((x) => [x.held, x.released, x.rejected, x.pending]),
    ]
    for (const c of cells) t.ok(c === null || c === 0 || c >= MIN, `a published count is 0 or at least ${MIN} (${c})`)
    const tables = [r.volumes.byPair, r.volumes.byInstrument, r.volumes.byKind, r.volumes.byCrimeArea, r.refusals, r.undeliverable]
    // A table with one suppressed cell has no other non-zero cell: subtracting from a total gives nothing back.
    for (const table of tables) {
      if (table.filter((x) => x.count === null).length === 1) t.ok(table.every((x) => x.count === null || x.count === 0), 'no table has exactly one suppressed cell beside others')
    }
    for (const row of r.timeliness) t.not([row.withinDeadline, row.missed, row.open].filter((c) => c === null).length === 1 && row.requests !== null, true, 'no row with one suppressed part and its total')
  }

  t.test('R1 scope: an agency sees only its own pairs, never another agency\'s data', async (t) => {
    const res = await get(officer)
    t.equal(res.statusCode, 200, res.body)
    const r = res.json() as SteeringReport
    t.same(r.scope, { agency: 'AL-ASP' })
    t.equal(r.minCount, MIN)
    t.same(r.volumes.byPair.map((p) => `${p.from}>${p.to}`).sort(), ['AL-ASP>ME-UP', 'AL-ASP>RS-MUP', 'RS-MUP>AL-ASP'])
    t.notMatch(res.body, /MK-MVR/, 'nothing of the ME-UP → MK-MVR pair')
    t.notMatch(res.body, /officer-0042|CASE-|SUBJ-|Disproportionate/, 'no officer ids, case refs, subjects or content')
    const pair = r.timeliness.find((x) => x.from === 'AL-ASP' && x.to === 'RS-MUP')
    t.ok(pair, 'timeliness for AL-ASP → RS-MUP')
    // 4 requests: 1 answered, 1 refused (both within the deadline: suppressed together), 2 missed (suppressed, 0 < 2 < 3).
    t.equal(pair?.requests, 4)
    t.equal(pair?.open, 0)
    t.equal(pair?.missed, null)
    t.equal(pair?.withinDeadline, null)
    t.equal(pair?.medianHoursToAnswer, null, 'a median over fewer than min answers is suppressed')
    t.same(r.holds.map((h) => h.rule).length > 0, true, 'its own held message counts under its rule')
    checkSuppression(t, r)
    // Every null is a suppressed cell but a median of a pair with no answer at all.
    const nulls = JSON.stringify(r).match(/:null/g)?.length ?? 0
    const noAnswer = r.timeliness.filter((x) => x.medianHoursToAnswer === null).length
    t.ok(r.suppressedCells >= nulls - noAnswer && r.suppressedCells <= nulls && r.suppressedCells > 0, `suppressedCells ${r.suppressedCells} of ${nulls} nulls`)
  })

  t.test('R1 scope: the responder never sees the held exchange; another agency is refused', async (t) => {
    const me = await get(tokenFor(app, 'ME-UP'))
    t.equal(me.statusCode, 200)
    const r = me.json() as SteeringReport
    t.same(r.volumes.byPair.map((p) => `${p.from}>${p.to}`), ['ME-UP>MK-MVR'], 'not the held AL-ASP → ME-UP exchange (D4), nothing of AL-ASP')
    t.equal(r.volumes.byPair[0]?.count, 5)
    t.equal((await get(officer, '&agency=ME-UP')).statusCode, 403)
    for (const role of ['system', 'admin']) {
      const res = await get(tokenFor(app, 'AL-ASP', [role]))
      t.equal(res.statusCode, 403, `${role} is refused`)
      t.match(res.headers['content-type'], /problem\+json/)
    }
  })

  t.test('R1 scope: a supervisor sees all, or one agency', async (t) => {
    const all = (await get(supervisor)).json() as SteeringReport
    t.same(all.scope, { agency: null })
    t.same(all.volumes.byPair.map((p) => `${p.from}>${p.to}`).sort(), ['AL-ASP>ME-UP', 'AL-ASP>RS-MUP', 'ME-UP>MK-MVR', 'RS-MUP>AL-ASP'])
    const me = (await get(supervisor, '&agency=ME-UP')).json() as SteeringReport
    t.same(me.volumes.byPair.map((p) => `${p.from}>${p.to}`).sort(), ['AL-ASP>ME-UP', 'ME-UP>MK-MVR'], 'a supervisor sees the held exchange too')
    checkSuppression(t, all)
    t.same(all.refusals, [{ ground: 'c', count: null }])
  })

  t.test('R1: invalid periods are invalid-period problems', async (t) => {
    const cases = [['2026-02-01', '2026-01-01'], ['2026-01-01', '2026-01-01'], ['2025-01-01', '2026-01-05'], ['yesterday', '2026-01-01'], ['2026-01-01', '2026-13-45']]
    for (const [f, e] of cases) {
      const res = await app.inject({ method: 'GET', url: `/v1/reports/exchanges?from=${f}&to=${e}`, headers: { authorization: `Bearer ${officer}` } })
      t.equal(res.statusCode, 400, `${f} .. ${e}`)
      t.equal(res.json().code, 'invalid-period')
    }
  })

  t.test('R1: CSV round trip (RFC 4180)', async (t) => {
    const json = (await get(officer)).json() as SteeringReport
    const res = await get(officer, '', { accept: 'text/csv' })
    t.match(res.headers['content-type'], /^text\/csv/)
    t.equal(res.body, reportCsv({ ...json, generatedAt: json.generatedAt }), 'the CSV is the JSON report')
    const rows = parseCsv(res.body, { columns: true }) as Record<string, string>[]
    const cell = (v: number | null) => (v === null ? 'suppressed' : String(v))
    t.same(rows.filter((r) => r.section === 'volume-pair').map((r) => [r.from, r.to, r.count]), json.volumes.byPair.map((p) => [p.from, p.to, cell(p.count)]))
    t.same(rows.filter((r) => r.section === 'timeliness').map((r) => [r.from, r.to, r.requests, r.withinDeadline, r.missed, r.open]),
      json.timeliness.map((p) => [p.from, p.to, cell(p.requests), cell(p.withinDeadline), cell(p.missed), cell(p.open)]))
    const quoted = reportCsv({ ...json, refusals: [{ ground: 'a,"b"\nc', count: 7 }] })
    t.same((parseCsv(quoted, { columns: true }) as Record<string, string>[]).find((r) => r.section === 'refusal'), { ...Object.fromEntries(Object.keys(rows[0] ?? {}).map((k) => [k, ''])), section: 'refusal', key: 'a,"b"\nc', count: '7' })
  })

  t.test('R1: SVG chart is well-formed, accessible, without script', async (t) => {
    const res = await get(officer, '&format=svg')
    t.match(res.headers['content-type'], /^image\/svg\+xml/)
    t.equal(XMLValidator.validate(res.body), true, 'well-formed XML')
    const doc = new XMLParser({ ignoreAttributes: false }).parse(res.body) as { svg: Record<string, unknown> }
    t.equal(doc.svg['@_role'], 'img')
    t.ok(doc.svg.title, '<title>')
    t.ok(doc.svg.desc, '<desc>')
    t.notMatch(res.body, /<script|javascript:|href=|on[a-z]+=/i, 'no script, no external reference, no handler')
    t.match(res.body, /suppressed/, 'suppressed shown as such')
  })

  t.test('R1: leix report and LeixClient read the same report', async (t) => {
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    const env = { LEIX_URL: url, LEIX_TOKEN: officer }
    const json = await leix(['report', '--from', from, '--to', to], env)
    t.equal(json.code, 0, json.stderr)
    const r = JSON.parse(json.stdout) as SteeringReport
    t.same(r.volumes, ((await get(officer)).json() as SteeringReport).volumes)
    const dir = mkdtempSync(join(tmpdir(), 'leix-report-'))
    const csv = await leix(['report', '--from', from, '--to', to, '--format', 'csv', '--out', join(dir, 'r.csv')], env)
    t.equal(csv.code, 0, csv.stderr)
    t.match(readFileSync(join(dir, 'r.csv'), 'utf8'), /^section,from,to,/)
    const svg = await leix(['report', '--from', from, '--to', to, '--format', 'svg'], env)
    t.match(svg.stdout, /^<svg /)
    const refused = await leix(['report', '--from', to, '--to', from], env)
    t.equal(refused.code, 1, 'an invalid period is a problem answer')
    t.match(refused.stderr, /invalid-period/)
  })

  t.test('A1 R1: every report read is an audit event, without figures', async (t) => {
    const { rows } = await rt.pool.query<{ event: Record<string, any> }>("SELECT event FROM audit_events WHERE event ->> 'type' = 'report.generated' ORDER BY recorded")
    t.ok(rows.length >= 6)
    const formats = new Set(rows.map((r) => r.event.details.format))
    t.same([...formats].sort(), ['csv', 'json', 'svg'])
    const sup = rows.find((r) => r.event.actor.id === SUP.sub)
    t.equal(sup?.event.details.scope, 'all')
    t.same(Object.keys(rows[0]?.event.details ?? {}).sort(), ['format', 'from', 'scope', 'to'])
  })

  t.test('R1: a refusal is counted by its ground once its event is sealed, as before', async (t) => {
    const before = ((await get(supervisor)).json() as SteeringReport).refusals
    // The clock moved 40 days on: the sealer would refuse events ahead of it otherwise.
    while ((await services.audit.sealOnce()).status === 'sealed');
    t.equal(Number((await rt.pool.query('SELECT count(*) AS n FROM audit_events WHERE seq IS NULL AND refused IS NULL')).rows[0].n), 0, 'every event sealed')
    t.same(((await get(supervisor)).json() as SteeringReport).refusals, before)
    t.same(before, [{ ground: 'c', count: null }])
  })
})

t.test('R1 T2 T3: timeliness per pair, exactly (min 1: nothing suppressed)', async (t) => {
  const { app, clock } = await buildTestApp(t, { config: { reportMinCount: 1 } })
  const from = clock.now().toISOString()
  const send = async (m: Record<string, unknown>) => {
    const res = await submit(app, await sign(m))
    if (res.statusCode !== 202) throw new Error(res.body)
    return res.json() as { exchangeId: string }
  }
  const answer = (request: Record<string, unknown>) => send(requestMessage(clock, { from: 'RS-MUP', to: 'AL-ASP' }, { kind: 'response', inReplyTo: request.id, evaluation: { source: 'B', information: '2' } }))
  const within = requestMessage(clock)
  const late = requestMessage(clock)
  const missed = requestMessage(clock)
  const opened = await send(within)
  await send(late)
  await send(missed)
  const officer = tokenFor(app, 'AL-ASP')
  const deadline = Date.parse((await app.inject({ method: 'GET', url: `/v1/exchanges/${opened.exchangeId}`, headers: { authorization: `Bearer ${officer}` } })).json().deadline)
  t.ok(deadline > clock.now().getTime(), 'requests have a deadline')
  clock.advance(3_600_000)
  await answer(within)
  clock.set(new Date(deadline + 3_600_000))
  // Opened after the others, its deadline still runs: open.
  await send(requestMessage(clock))
  await answer(late)
  const to = new Date(clock.now().getTime() + 1000).toISOString()
  const r = (await app.inject({ method: 'GET', url: `/v1/reports/exchanges?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`, headers: { authorization: `Bearer ${officer}` } })).json() as SteeringReport
  t.same(r.timeliness, [{ from: 'AL-ASP', to: 'RS-MUP', requests: 4, withinDeadline: 1, missed: 2, open: 1, medianHoursToAnswer: r.timeliness[0]?.medianHoursToAnswer }])
  t.equal(r.timeliness[0]?.medianHoursToAnswer, Math.round(((1 + (deadline + 3_600_000 - Date.parse(from)) / 3_600_000) / 2) * 10) / 10, 'the median of 1 h and the late answer, in hours')
  t.equal(r.suppressedCells, 0)
  t.same(r.volumes.byKind, [{ kind: 'request', count: 4 }, { kind: 'response', count: 2 }])
})
