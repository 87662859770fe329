// The console is usable with the keyboard alone and axe-core finds no serious or critical
// violation on any of its views, in Chromium against a real `leix serve`. axe runs inside the
// page: its source is handed to the page through the DevTools protocol (page.evaluate), which the
// page's CSP does not govern, so the console keeps its strict CSP for these tests too.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import t from 'tap'
import type { Page } from 'playwright-core'
import { chromiumMissing, startBrowser, startServe } from './serve.ts'

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

interface AxeViolation { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }

/** axe-core's serious and critical violations on the page as it is now: "rule: help (targets)". */
async function seriousViolations (page: Page): Promise<string[]> {
  await page.evaluate(AXE)
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(ctx: Document, o: object): Promise<{ violations: unknown[] }> } }).axe
    return (await axe.run(document, { resultTypes: ['violations'] })).violations
  }) as AxeViolation[]
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)
}

/** What has the focus: tag, id, class and text, enough to say where the keyboard user is. */
const focused = async (page: Page) => await page.evaluate(() => {
  const el = document.activeElement as HTMLElement | null
  if (!el) return { tag: '', text: '', outline: 'none', inDialog: false, id: '', cls: '' }
  const style = getComputedStyle(el)
  return { tag: el.tagName.toLowerCase(), id: el.id, cls: el.className, text: (el.textContent ?? '').trim().slice(0, 80), outline: style.outlineStyle === 'none' || style.outlineWidth === '0px' ? 'none' : style.outlineStyle, inDialog: el.closest('dialog') !== null }
})

/** A day from today (UTC) as yyyy-mm-dd. */
const today = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10)

const missing = chromiumMissing()
if (missing) {
  t.plan(0, missing)
} else {
  const leix = await startServe(t)
  const out = await leix.send('AL-ASP', 'RS-MUP', { caseRef: 'CASE-KEY-1', answerBy: new Date(Date.now() + 5 * 86_400_000).toISOString() })
  await leix.send('RS-MUP', 'AL-ASP', { caseRef: 'CASE-IN-2' })
  await leix.send('AL-ASP', 'ME-UP', { caseRef: 'CASE-HOLD-3', dataSubjects: [{ ref: 'SUBJ-M1', category: 'victim', minor: true }] })
  const officer = await leix.token('AL-ASP', ['officer'])
  const b = await startBrowser(t, leix.origin, 'accessibility')
  const { page } = b

  t.test('keyboard only: sign in, the list, an exchange, its dialog, back', async (t) => {
    await page.goto(`${leix.origin}/console/`)
    await page.evaluate(() => sessionStorage.clear())
    await page.reload()
    await page.waitForFunction(() => document.body.dataset.rendered !== undefined)
    t.equal((await focused(page)).id, 'token', 'the sign-in page starts in the token field')
    await page.keyboard.insertText(officer)
    await page.keyboard.press('Tab')
    t.match(await focused(page), { tag: 'button', text: 'Sign in' }, 'Tab reaches the button')
    await page.keyboard.press('Enter')
    await page.waitForFunction(() => document.body.dataset.rendered === '#/exchanges')
    t.match(await focused(page), { tag: 'h1', text: 'Exchanges' }, 'focus goes to the new view\'s heading')

    // Tab forward to the exchange's link; every stop shows where the focus is.
    let here = await focused(page)
    const stops: string[] = []
    for (let i = 0; i < 40 && !(here.tag === 'a' && here.text === 'CASE-KEY-1'); i++) {
      await page.keyboard.press('Tab')
      here = await focused(page)
      stops.push(`${here.tag}:${here.text.slice(0, 20)}`)
      if (here.outline === 'none') t.fail(`no visible focus on ${here.tag} "${here.text}"`)
    }
    t.match(here, { tag: 'a', text: 'CASE-KEY-1' }, `Tab reaches the exchange through the filters (${stops.length} stops)`)
    await b.shot('keyboard-list')
    await page.keyboard.press('Enter')
    await page.waitForFunction((id) => document.body.dataset.rendered === `#/exchange/${id}`, out.exchangeId)
    t.match(await focused(page), { tag: 'h1', text: 'Exchange CASE-KEY-1' }, 'Enter opens the exchange, focus on its heading')

    for (let i = 0; i < 20 && (await focused(page)).cls !== 'read-body'; i++) await page.keyboard.press('Tab')
    t.equal((await focused(page)).cls, 'read-body', 'Tab reaches "Read body…"')
    await page.keyboard.press('Enter')
    await page.getByRole('dialog').waitFor()
    t.match(await focused(page), { tag: 'textarea', inDialog: true }, 'the dialog takes the focus')
    let escaped = 0
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press(i % 3 === 2 ? 'Shift+Tab' : 'Tab')
      if (!(await focused(page)).inDialog) escaped++
    }
    t.equal(escaped, 0, 'Tab and Shift+Tab stay inside the dialog')
    await b.shot('keyboard-dialog')
    await page.keyboard.press('Escape')
    await page.getByRole('dialog').waitFor({ state: 'detached' })
    t.equal((await focused(page)).cls, 'read-body', 'Escape closes it and the focus returns to its button')

    for (let i = 0; i < 20 && (await focused(page)).text !== '← Exchanges'; i++) await page.keyboard.press('Shift+Tab')
    t.match(await focused(page), { tag: 'a', text: '← Exchanges' }, 'Shift+Tab reaches the way back')
    await page.keyboard.press('Enter')
    await page.waitForFunction(() => document.body.dataset.rendered === '#/exchanges')
    t.match(await focused(page), { tag: 'h1', text: 'Exchanges' }, 'back at the list, focus on its heading')
  })

  t.test('the skip link: first stop, visible, and it moves the focus to the content', async (t) => {
    await b.open('#/inbox')
    await page.reload()
    await page.waitForFunction(() => document.body.dataset.rendered === '#/inbox')
    await page.keyboard.press('Tab')
    t.match(await focused(page), { tag: 'a', cls: 'skip', text: 'Skip to content' }, 'the first Tab stop')
    const box = await page.locator('a.skip').boundingBox()
    t.ok(box && box.x >= 0 && box.y >= 0, 'shown on screen once focused')
    await page.keyboard.press('Enter')
    t.match(await focused(page), { tag: 'main', id: 'main' }, 'Enter moves the focus to the content')
    // and stays on the view: the link is not a navigation (the hash is the router), even later on
    t.equal(await page.evaluate(() => location.hash), '#/inbox', 'the view is unchanged')
    await page.waitForTimeout(500)
    t.match(await focused(page), { tag: 'main', id: 'main' }, 'no later render takes the focus away')
  })

  t.test('axe-core: no serious or critical violation on any view', async (t) => {
    // The check can fail: an image without a text alternative is a critical violation.
    await b.open('#/exchanges')
    await page.evaluate(() => { const img = document.createElement('img'); img.id = 'axe-probe'; document.getElementById('main')?.append(img) })
    t.match(await seriousViolations(page), [/^image-alt: .*#axe-probe/], 'axe runs in the page and reports')
    await page.evaluate(() => document.getElementById('axe-probe')?.remove())

    const views: [string, string, () => Promise<void>][] = [
      ['sign-in', '', async () => {
        await page.goto(`${leix.origin}/console/`)
        await page.evaluate(() => sessionStorage.clear())
        await page.reload()
        await page.waitForFunction(() => document.body.dataset.rendered !== undefined)
      }],
      ['exchanges', officer, async () => { await b.open('#/exchanges') }],
      ['exchange', officer, async () => { await b.open(`#/exchange/${out.exchangeId}`) }],
      ['justification dialog', officer, async () => { await page.locator('button.read-body').first().click(); await page.getByRole('dialog').waitFor() }],
      ['inbox', officer, async () => { await b.open('#/inbox') }],
      ['notifications', officer, async () => { await b.open('#/notifications') }],
      ['review', await leix.token('AL-ASP', ['dpo']), async () => { await b.open('#/review') }],
      ['audit with a verified proof', await leix.token('AL-ASP', ['auditor']), async () => {
        await b.open('#/audit')
        await page.locator('#events button.verify').first().click()
        await page.locator('#events .result').first().waitFor()
      }],
      ['report', await leix.token('AL-ASP', ['auditor']), async () => { await b.open(`#/report?from=${today(-1)}&to=${today(1)}`); await page.locator('#report-pairs').waitFor() }],
      // Another language, another script: the page says which (axe checks lang as well).
      ['exchanges in Serbian Cyrillic', officer, async () => {
        await b.open('#/exchanges')
        await page.locator('#language').selectOption('sr-Cyrl')
        await page.waitForFunction(() => document.documentElement.lang === 'sr-Cyrl' && document.body.dataset.rendered === '#/exchanges')
      }],
    ]
    let signedIn = ''
    for (const [name, token, show] of views) {
      if (token && token !== signedIn) { await b.signInAs(token); signedIn = token }
      await show()
      t.same(await seriousViolations(page), [], name)
      await b.shot(`axe-${name.replace(/\W+/g, '-')}`)
    }
  })

  t.test('no CSP violation, script error or third-party request', async (t) => {
    t.same(b.problems, [])
  })
}
