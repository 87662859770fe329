// The console in a real browser (Debian's chromium, driven by playwright-core) against a real
// `leix serve` process on PostgreSQL and Redis: each role's main task, under helmet's strict CSP,
// with no script error and no third-party request on the way. Screenshots go to
// test-results/console/roles/ for review.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { chromiumMissing, startBrowser, startServe, SUPERVISOR, waitUntil } from './serve.ts'

const missing = chromiumMissing()
if (missing) {
  t.plan(0, missing)
} else {
  // Small cells below 2 suppressed, so that the test's handful of exchanges shows both kinds of cell.
  const leix = await startServe(t, { LEIX_REPORT_MIN_COUNT: '2' })
  const inHours = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString()
  // Deadlines the requester sets (PCC-SEE): days away, hours away, and seconds away (overdue soon).
  const ok = await leix.send('AL-ASP', 'RS-MUP', { caseRef: 'CASE-OK-1', answerBy: inHours(5 * 24) })
  const near = await leix.send('AL-ASP', 'RS-MUP', { caseRef: 'CASE-NEAR-1', answerBy: inHours(3), crimeAreas: ['cybercrime'] })
  const late = await leix.send('AL-ASP', 'RS-MUP', { caseRef: 'CASE-LATE-1', answerBy: new Date(Date.now() + 3000).toISOString() })
  const incoming = await leix.send('RS-MUP', 'AL-ASP', { caseRef: 'CASE-IN-1', answerBy: inHours(48) })
  // Held for the DPO's review (rule D3: a minor among the data subjects): one released, one rejected.
  const minor = { dataSubjects: [{ ref: 'SUBJ-M1', category: 'victim', minor: true }] }
  const heldRelease = await leix.send('AL-ASP', 'ME-UP', { ...minor, caseRef: 'CASE-HOLD-1' })
  const heldReject = await leix.send('AL-ASP', 'ME-UP', { ...minor, caseRef: 'CASE-HOLD-2' })
  // MK-MVR's webhook refuses connections and allows one attempt: undeliverable.
  await leix.send('AL-ASP', 'MK-MVR', { caseRef: 'CASE-MK-1' })

  const officer = await leix.token('AL-ASP', ['officer'])
  await waitUntil('the late exchange flagged overdue', async () => (await leix.get(`/v1/exchanges/${late.exchangeId}`, officer)).overdue, 60_000)
  const types = async () => new Set((await leix.get<{ items: { type: string }[] }>('/v1/notifications?limit=200', officer)).items.map((n) => n.type))
  await waitUntil('deadline warnings, non-delivery and undeliverable notifications', async () => {
    const seen = await types()
    return ['exchange.deadline-warning', 'exchange.overdue', 'message.non-delivery', 'delivery.undeliverable'].every((x) => seen.has(x))
  }, 60_000)

  const b = await startBrowser(t, leix.origin, 'roles')
  const { page } = b
  // The footer is written by the page's script once its messages loaded: wait (bounded) for the
  // expected text, then read what is there, so that a miss fails with what was shown instead.
  const footer = async (expected: RegExp): Promise<string> => {
    await page.locator('footer', { hasText: expected }).waitFor({ timeout: 10_000 }).catch(() => undefined)
    return await page.locator('footer').textContent() ?? ''
  }

  t.test('served under the strict CSP, Kosovo* with its footnote', async (t) => {
    const res = await page.goto(`${leix.origin}/console`)
    t.equal(res?.status(), 200, '/console answers (redirected to /console/)')
    t.match(res?.headers()['content-security-policy'] ?? '', /script-src 'self'/, 'under helmet\'s strict CSP')
    t.match(await footer(/This designation is without prejudice/), /^\*This designation is without prejudice/, 'the Kosovo* footnote')
    await b.shot('sign-in')
    await b.signInAs(await leix.token('XK-KP', ['officer']))
    const who = await page.locator('header .who').textContent() ?? ''
    t.match(who, /XK-KP — Kosovo\* Police.*\(Kosovo\*\)/, 'an agency of Kosovo* is named with the asterisk')
    t.notMatch(who, /Kosovo(?!\*)/, 'never without it')
  })

  t.test('T2: a liaison officer\'s exchanges, filtered, with a live countdown coloured by time left', async (t) => {
    await b.signInAs(officer)
    const row = (x: { exchangeId: string }) => page.locator(`#exchanges tr[data-exchange="${x.exchangeId}"]`)
    await row(ok).waitFor()
    await page.waitForFunction(() => [...document.querySelectorAll('.countdown')].every((c) => c.textContent !== ''))
    for (const [x, colour, words] of [[ok, 'ok', /left/], [near, 'near', /left/], [late, 'overdue', /overdue by/]] as const) {
      const countdown = row(x).locator('.countdown')
      t.equal(await countdown.getAttribute('class'), `countdown ${colour}`, `${colour} colour`)
      t.match(await countdown.textContent() ?? '', words, `${colour} wording`)
    }
    const before = await row(ok).locator('.countdown').textContent()
    await page.waitForFunction((text) => document.querySelector('#exchanges .countdown.ok')?.textContent !== text, before)
    t.pass('the countdown runs in the page')
    await b.shot('exchanges')

    const filters: [string, string, string[]][] = [
      ['direction', 'incoming', [incoming.exchangeId]],
      ['crimeArea', 'cybercrime', [near.exchangeId]],
      ['overdue', 'true', [late.exchangeId]],
      ['status', 'held', [heldRelease.exchangeId, heldReject.exchangeId]],
    ]
    for (const [name, value, expected] of filters) {
      await b.open('#/exchanges')
      await page.locator(`form.filters select[name="${name}"]`).selectOption(value)
      await page.getByRole('button', { name: 'Apply' }).click()
      await page.waitForFunction((q) => document.body.dataset.rendered?.includes(q), `${name}=${value}`)
      const listed = await page.locator('#exchanges tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.exchange))
      t.same(listed.sort(), [...expected].sort(), `${name}=${value} goes to the API and lists only those`)
    }
  })

  t.test('the list pages on: the next page continues where the first ended', async (t) => {
    await b.open('#/exchanges?limit=3')
    const ids = async () => await page.locator('#exchanges tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.exchange))
    const first = await ids()
    t.equal(first.length, 3, 'a page of three')
    await page.getByRole('link', { name: 'Next page of exchanges →' }).click()
    await page.waitForFunction(() => document.body.dataset.rendered?.includes('cursor='))
    const second = await ids()
    t.ok(second.length > 0, 'the next page')
    t.same(second.filter((id) => first.includes(id)), [], 'with other exchanges')
  })

  t.test('an exchange\'s timeline of hops; reading a body asks for a justification, then says it was logged', async (t) => {
    await b.open(`#/exchange/${late.exchangeId}`)
    const events = await page.locator('#timeline tbody tr').evaluateAll((rows) => rows.map((r) => `${(r as HTMLElement).dataset.event} ${r.querySelector('td:nth-child(2)')?.textContent}`))
    t.ok(events.includes('message.accepted Message acceptedmessage.accepted'), 'the intake hop, in words')
    t.ok(events.includes('exchange.overdue Deadline passedexchange.overdue'), 'the deadline passing')
    t.equal(await page.locator('#timeline thead th').count(), 5, 'time, event, outcome, actor, reason')

    const opener = page.locator('button.read-body').first()
    await opener.click()
    const dialog = page.getByRole('dialog', { name: 'Justification required' })
    await dialog.waitFor()
    t.equal(await page.locator('pre.message-body').count(), 0, 'no body before the justification')
    await b.shot('justification')
    await dialog.getByLabel('Reason (10–500 characters)').fill('Checking the request before the morning briefing – čćž')
    await dialog.getByLabel('Reason code').selectOption('investigation')
    await dialog.getByRole('button', { name: 'Read and log' }).click()
    await page.locator('pre.message-body').waitFor()
    t.equal(await dialog.count(), 0, 'the dialog closes')
    t.ok(await opener.evaluate((el) => el === document.activeElement), 'focus returns to the button that opened it')
    t.match(await page.locator('pre.message-body').textContent() ?? '', /"caseRef": "CASE-LATE-1"/, 'the body, once justified')
    const logged = await page.locator('p.logged').textContent() ?? ''
    t.match(logged, /Consultation logged at .*Recorded reason: investigation — “Checking the request before the morning briefing – čćž”/, 'what was logged, with the reason')
    const eventId = await page.locator('p.logged code.event-id').textContent()
    const auditor = await leix.token('AL-ASP', ['auditor'])
    await waitUntil('the consultation sealed', async () => (await leix.get<{ items: { id: string }[] }>(`/v1/audit/events?type=message.consulted&message=${late.messageId}`, auditor)).items.some((e) => e.id === eventId), 30_000)
    t.pass('the event the console names is in the audit log')
    await b.shot('justified-read')
  })

  t.test('the inbox: requests awaiting the agency\'s answer', async (t) => {
    await b.open('#/inbox')
    const listed = await page.locator('#inbox tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.exchange))
    t.same(listed, [incoming.exchangeId], 'only the incoming request still owed an answer')
    t.match(await page.locator('#inbox tbody tr').first().textContent() ?? '', /RS-MUP.*CASE-IN-1|CASE-IN-1.*RS-MUP/, 'with its requester')
    t.match(await page.locator('#inbox .countdown').getAttribute('class') ?? '', /countdown ok/, 'and its countdown')
    await b.shot('inbox')
  })

  t.test('T2, T5: notifications: deadline warnings, overdue, non-delivery, undeliverable', async (t) => {
    await b.open('#/notifications')
    const rows = page.locator('#notifications tbody tr')
    const byType = async (type: string) => await page.locator(`#notifications tr[data-type="${type}"]`).count()
    const expected: [string, RegExp, string][] = [
      ['exchange.deadline-warning', /Deadline near.*The answer is due/, 'severity-near'],
      ['exchange.overdue', /Deadline passed.*has passed without an answer/, 'severity-overdue'],
      ['message.non-delivery', /Not delivered in time.*was not delivered within/, 'severity-overdue'],
      ['delivery.undeliverable', /Undeliverable.*could not be delivered after 1 attempts/, 'severity-overdue'],
    ]
    for (const [type, words, severity] of expected) {
      t.ok(await byType(type) > 0, `${type} is listed`)
      const first = page.locator(`#notifications tr[data-type="${type}"]`).first()
      t.match(await first.textContent() ?? '', words, `${type} in words`)
      t.equal(await first.getAttribute('class'), severity, `${type} marked ${severity}`)
    }
    const times = await rows.evaluateAll((trs) => trs.map((r) => r.querySelector('td:nth-child(2)')?.textContent ?? ''))
    t.ok(times.length > 4, 'all of them')
    await b.shot('notifications')
  })

  t.test('D3: a DPO sees the held queue with the reasons, releases one and rejects one with a reason code', async (t) => {
    await b.signInAs(await leix.token('AL-ASP', ['dpo']))
    await b.open('#/review')
    for (const [x, decision, words] of [[heldRelease, 'release', 'Released for delivery.'], [heldReject, 'reject', 'Rejected.']] as const) {
      const item = page.locator('li.panel', { hasText: x.exchangeId })
      t.match(await item.textContent() ?? '', /D3: a data subject is a minor/, 'the hold reason')
      if (decision === 'release') {
        // The content the decision is about, read as a justified consultation (the reason code preset).
        await item.locator('button.read-body').click()
        const dialog = page.getByRole('dialog')
        t.equal(await dialog.getByLabel('Reason code').inputValue(), 'data-protection-review', 'the DPO\'s reason code preset')
        await dialog.getByLabel('Reason (10–500 characters)').fill('Deciding on the D3 hold of this request.')
        await dialog.getByRole('button', { name: 'Read and log' }).click()
        await item.locator('pre.message-body').waitFor()
        t.match(await item.locator('pre.message-body').textContent() ?? '', /"minor": true/, 'the held body, once justified')
      }
      await item.locator('select[name="decision"]').selectOption(decision)
      await item.locator('select[name="code"]').selectOption('data-protection-review')
      await item.locator('textarea[name="reason"]').fill(decision === 'release' ? 'The minor is the victim; sharing protects them.' : 'Not necessary for the stated purpose.')
      if (decision === 'release') await b.shot('review')
      await item.getByRole('button', { name: 'Decide' }).click()
      await item.getByText(words).waitFor()
    }
    const status = async (x: { exchangeId: string }) => (await leix.get(`/v1/exchanges/${x.exchangeId}`, officer)).status as string
    t.not(await status(heldRelease), 'held', 'the release reached the API')
    t.not(await status(heldReject), 'held', 'the rejection reached the API')
    await b.shot('reviewed')
  })

  for (const [who, agency, roles, sub] of [['an auditor', 'AL-ASP', ['auditor'], undefined], ['a supervisor', SUPERVISOR.agency, ['supervisor'], SUPERVISOR.sub]] as const) {
    t.test(`${who}: audit search; an inclusion proof verified in the browser, a tampered one failed`, async (t) => {
      await b.signInAs(await leix.token(agency, [...roles], sub))
      await b.open(`#/audit?exchange=${late.exchangeId}`)
      const types = await page.locator('#events tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.event))
      t.ok(types.includes('message.accepted'), 'the search goes to the API')
      t.notOk(types.includes('message.held'), 'and lists that exchange\'s events only (the held messages are other exchanges)')
      await page.locator('#events button.verify').first().click()
      const result = page.locator('#events .result').first()
      await result.waitFor()
      t.equal((await result.textContent())?.trim(), 'Verified', 'against the latest signed checkpoint and the JWKS')
      t.match(await page.locator('#events td ul').first().textContent() ?? '', /✓ Checkpoint signature.*✓ Inclusion in the signed tree/, 'each step shown')
      await b.shot(`audit-verified-${roles[0]}`)

      // The same proof with one byte of the event changed must fail.
      await page.route('**/v1/audit/proofs/inclusion?*', async (route) => {
        const answer = await route.fetch()
        const proof = await answer.json() as { line: string }
        proof.line = proof.line.replace(/"outcome":"ok"/, '"outcome":"denied"')
        await route.fulfill({ response: answer, json: proof })
      })
      await page.reload()
      await page.waitForFunction(() => document.body.dataset.rendered?.startsWith('#/audit'))
      await page.locator('#events button.verify').first().click()
      await page.locator('#events .result').first().waitFor()
      t.equal((await page.locator('#events .result').first().textContent())?.trim(), 'Verification failed', 'a tampered event fails')
      await b.shot(`audit-failed-${roles[0]}`)
      await page.unroute('**/v1/audit/proofs/inclusion?*')
    })
  }

  t.test('R1: the Steering Group report: tables, a chart drawn in the page, suppressed cells explained, CSV download', async (t) => {
    await b.signInAs(officer)
    const day = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10)
    await b.open(`#/report?from=${day(-1)}&to=${day(1)}`)
    const cells = async (id: string) => await page.locator(`#${id} tbody tr`).evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll('td')].map((c) => c.textContent ?? '')))
    const pairs = await cells('report-pairs')
    const row = (from: string, to: string) => pairs.find((r) => r[0]?.startsWith(from) && r[1]?.startsWith(to))
    t.same(row('AL-ASP', 'RS-MUP')?.[2], '3', 'a count at or above the threshold is shown')
    t.same(row('AL-ASP', 'MK-MVR')?.[2], 'suppressed*', 'a count below it reads "suppressed"')
    t.match(await page.locator('#suppressed-help').textContent() ?? '', /a count below 2 is not shown/, 'with the reason')
    const described = (await page.locator('svg.chart desc').first().textContent() ?? '').split('; ')
    t.ok(described.includes('AL-ASP → RS-MUP: 3') && described.includes('AL-ASP → MK-MVR: suppressed'), 'the chart, described for a screen reader')
    t.equal(await page.locator('svg.chart').first().locator('g.bar rect').count() > 0, true, 'with bars drawn in the page')
    t.ok((await cells('report-timeliness')).some((r) => r[0]?.startsWith('AL-ASP') && r[1]?.startsWith('RS-MUP')), 'timeliness per pair')
    t.ok((await cells('report-holds')).some((r) => r[0] === 'D3'), 'the D3 holds and their review')
    await b.shot('report')
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('button.download-csv').click()])
    t.match(download.suggestedFilename(), /^leix-report-.*\.csv$/, 'the CSV is downloaded with the user\'s token')
    t.match(readFileSync(await download.path(), 'utf8'), /section/, 'as the API writes it')
    const [svg] = await Promise.all([page.waitForEvent('download'), page.locator('button.download-svg').click()])
    t.match(readFileSync(await svg.path(), 'utf8'), /<svg/, 'and the SVG chart')
  })

  t.test('a language switch, and the language the browser asks for', async (t) => {
    await b.signInAs(officer)
    await page.locator('#language').selectOption('sr-Cyrl')
    await page.getByRole('heading', { name: 'Размене' }).waitFor()
    t.equal(await page.locator('html').getAttribute('lang'), 'sr-Cyrl', 'the page says its language')
    t.match(await footer(/Косова/), /Косова/, 'the footnote in the chosen language')
    await b.shot('sr-Cyrl')
    await page.locator('#language').selectOption('en')

    const mk = await b.browser.newContext({ locale: 'mk-MK', timezoneId: 'Europe/Skopje' })
    const other = await mk.newPage()
    await other.goto(`${leix.origin}/console/`)
    await other.getByRole('heading', { name: 'Најава' }).waitFor()
    t.equal(await other.locator('html').getAttribute('lang'), 'mk', 'chosen from navigator.languages')
    await mk.close()
  })

  t.test('no CSP violation, script error or third-party request', async (t) => {
    t.same(b.problems, [])
  })
}
