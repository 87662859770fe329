// The console in a real browser (Debian's chromium, driven by playwright-core) against a
// gateway listening on loopback: sign-in, the exchanges list with its countdown, the
// justification asked before a message body is shown, an audit proof verified in the page
// (and refused once the proof is tampered with), a language switch, and no CSP violation or
// script error on the way. Screenshots go to test-results/console/ for review.
import { existsSync, mkdirSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core'
import { startGateway } from '../security/full-app.ts'

const CHROMIUM = '/usr/bin/chromium'
const SHOTS = new URL('../../test-results/console/', import.meta.url)

if (!existsSync(CHROMIUM)) {
  t.plan(0, `${CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium; .ci/run does it) to run the console's browser tests`)
} else {
  t.test('the console in Chromium', async (t) => {
    const gw = await startGateway(t)
    const sent = await gw.send('AL-ASP', 'RS-MUP')
    // Held for the DPO's review (rule D3: a minor among the data subjects).
    const held = await gw.send('AL-ASP', 'ME-UP', { dataSubjects: [{ ref: 'SUBJ-M1', category: 'victim', minor: true }] })
    await gw.sealed()
    const { port } = gw.app.server.address() as AddressInfo
    const origin = `http://127.0.0.1:${port}`

    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    t.teardown(async () => await browser.close())
    const context = await browser.newContext({ locale: 'en-GB', timezoneId: 'Europe/Belgrade' })
    const page: Page = await context.newPage()
    // Anything the page logs as an error (CSP refusals are logged so), uncaught errors, and any
    // request that leaves the gateway's origin.
    const problems: string[] = []
    page.on('console', (m: ConsoleMessage) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`) })
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
    page.on('request', (r) => { if (!r.url().startsWith(origin)) problems.push(`third-party request: ${r.url()}`) })
    mkdirSync(SHOTS, { recursive: true })
    const shot = async (name: string) => { await page.screenshot({ path: new URL(`${name}.png`, SHOTS).pathname, fullPage: true }) }
    const signInAs = async (token: string) => {
      await page.goto(`${origin}/console/`)
      await page.locator('#token').fill(token)
      await page.getByRole('button', { name: 'Sign in' }).click()
    }

    const res = await page.goto(`${origin}/console`)
    t.equal(res?.status(), 200, '/console answers (redirected to /console/)')
    t.match(res?.headers()['content-security-policy'] ?? '', /script-src 'self'/, 'under helmet\'s strict CSP')
    t.match(await page.locator('footer').textContent() ?? '', /^\*This designation is without prejudice/, 'the Kosovo* footnote')
    await shot('sign-in')

    await t.test('a liaison officer: exchanges, countdown, justification before the body', async (t) => {
      await signInAs(gw.token('AL-ASP', ['officer']))
      const row = page.locator(`#exchanges tr[data-exchange="${sent.exchangeId}"]`)
      await row.waitFor()
      t.match(await row.textContent() ?? '', /Outgoing.*RS-MUP/, 'the submitted exchange is listed')
      const countdown = row.locator('.countdown')
      await page.waitForFunction(() => document.querySelector('.countdown')?.textContent !== '')
      t.match(await countdown.textContent() ?? '', /left|overdue/, 'with a live countdown')
      t.match(await countdown.getAttribute('class') ?? '', /countdown (ok|near|overdue)/, 'coloured by time left')
      await shot('exchanges')

      await page.locator('#overdue, select[name="overdue"]').selectOption('true')
      await page.getByRole('button', { name: 'Apply' }).click()
      await page.waitForFunction(() => location.hash.includes('overdue=true'))
      await page.getByText('No exchanges match.').waitFor()
      t.pass('the overdue filter goes to the API')

      await page.goto(`${origin}/console/#/exchange/${sent.exchangeId}`)
      await page.locator('ol.timeline li').first().waitFor()
      t.ok(await page.locator('ol.timeline li').count() >= 1, 'the timeline of hops')
      await page.locator('button.read-body').first().click()
      const form = page.locator('form.justification')
      await form.waitFor()
      t.match(await form.textContent() ?? '', /Justification required/, 'reading a body asks for a justification first')
      t.equal(await page.locator('pre.message-body').count(), 0, 'no body before it')
      await form.locator('textarea').fill('Checking the request before the morning briefing – čćž')
      await form.getByRole('button', { name: 'Read and log' }).click()
      await page.locator('pre.message-body').waitFor()
      t.match(await page.locator('pre.message-body').textContent() ?? '', /"from"/, 'the body, once justified')
      t.match(await form.textContent() ?? '', /Consultation logged/, 'the consultation is acknowledged as logged')
      await shot('justified-read')
    })

    await t.test('a DPO: the held message with its reason, released with a reason code', async (t) => {
      await page.getByRole('button', { name: 'Sign out' }).click()
      await signInAs(gw.token('AL-ASP', ['dpo']))
      await page.goto(`${origin}/console/#/review`)
      const item = page.locator('li.panel', { hasText: held.exchangeId })
      await item.waitFor()
      t.match(await item.textContent() ?? '', /D3: a data subject is a minor/, 'the hold reason')
      await item.locator('select[name="code"]').selectOption('data-protection-review')
      await item.locator('textarea[name="reason"]').fill('The minor is the victim; sharing protects them.')
      await shot('review')
      await item.getByRole('button', { name: 'Decide' }).click()
      await item.getByText('Released for delivery.').waitFor()
      const after = await gw.get(`/v1/exchanges/${held.exchangeId}`, gw.token('AL-ASP', ['officer']))
      t.not(after.json().status, 'held', 'the API has the decision')
    })

    await t.test('an auditor: an inclusion proof verified in the browser', async (t) => {
      await page.getByRole('button', { name: 'Sign out' }).click()
      await signInAs(gw.token('AL-ASP', ['auditor']))
      await page.goto(`${origin}/console/#/audit`)
      const verify = page.locator('#events button.verify').first()
      await verify.waitFor()
      await verify.click()
      const result = page.locator('#events .result').first()
      await result.waitFor()
      t.equal((await result.textContent())?.trim(), 'Verified', 'the proof verifies against the signed checkpoint and the JWKS')
      await shot('audit-verified')

      // The same proof with one character of the event changed must fail.
      await page.route('**/v1/audit/proofs/inclusion?*', async (route) => {
        const answer = await route.fetch()
        const proof = await answer.json() as { line: string }
        proof.line = proof.line.replace(/"outcome":"ok"/, '"outcome":"denied"')
        await route.fulfill({ response: answer, json: proof })
      })
      await page.reload()
      await page.locator('#events button.verify').first().click()
      await page.locator('#events .result').first().waitFor()
      t.equal((await page.locator('#events .result').first().textContent())?.trim(), 'Verification failed', 'a tampered event fails')
      await page.unroute('**/v1/audit/proofs/inclusion?*')

      await page.goto(`${origin}/console/#/report`)
      t.match(await page.locator('#report-unavailable').textContent() ?? '', /Not available yet/, 'R1 is labelled as not available')
    })

    await t.test('a language switch', async (t) => {
      await page.goto(`${origin}/console/#/exchanges`)
      await page.locator('#language').selectOption('sr-Cyrl')
      await page.getByRole('heading', { name: 'Размене' }).waitFor()
      t.equal(await page.locator('html').getAttribute('lang'), 'sr-Cyrl', 'the page says its language')
      t.match(await page.locator('footer').textContent() ?? '', /Косова/, 'the footnote in the chosen language')
      await shot('sr-Cyrl')
      await page.locator('#language').selectOption('en')

      // A browser set to Macedonian gets Macedonian without choosing.
      const mk = await browser.newContext({ locale: 'mk-MK', timezoneId: 'Europe/Skopje' })
      const other = await mk.newPage()
      await other.goto(`${origin}/console/`)
      await other.getByRole('heading', { name: 'Најава' }).waitFor()
      t.equal(await other.locator('html').getAttribute('lang'), 'mk', 'chosen from navigator.languages')
      await mk.close()
    })

    t.same(problems, [], 'no CSP violation, script error or third-party request')
  })
}
