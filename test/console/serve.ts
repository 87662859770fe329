// The console's browser tests run against a real `leix serve` process (spawned as in production,
// on a fresh PostgreSQL database and the shared Redis under its own queue prefix), and one
// Chromium per test file. Helpers shared by test/console/*.test.ts.
import { createPrivateKey, randomUUID } from 'node:crypto'
import { existsSync, mkdirSync } from 'node:fs'
import * as jose from 'jose'
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core'
import { freePort, kill, spawnLeix, waitRunning, waitUntil, type LeixProcess } from '../../scripts/chaos/services.ts'
import { systemClock } from '../../src/config/clock.ts'
import { loadConfig } from '../../src/config/config.ts'
import { loadTokenKeys } from '../../src/config/keys.ts'
import { createTestDatabase, databaseUrlAs, dropKeys, REDIS_URL, requestMessage, sign, type Teardown } from '../helpers.ts'
import { writeDirectory } from '../delivery/helpers.ts'

export const CHROMIUM = '/usr/bin/chromium'
export const SUPERVISOR = { agency: 'EU-EUROPOL', sub: 'supervisor-1' }

export interface Served {
  serve: LeixProcess
  origin: string
  /** A bearer token as `leix token` mints it with the process's (dev) issuer key. */
  token(agency: string, roles: string[], sub?: string): Promise<string>
  /** Submits a valid request from `from` to `to` (patched) to the process; the intake answer. */
  send(from: string, to: string, patch?: Record<string, unknown>): Promise<{ exchangeId: string; messageId: string; status: string }>
  /** GET from the process as JSON with a bearer token. */
  get<T = any>(path: string, token: string): Promise<T>
}

/**
 * `leix serve` with the settings that make a short test see what a night shift sees over days:
 * deadline watcher every 300 ms, every open deadline warned at once (9999d before it), a message
 * not fetched within 2 s flagged non-delivered (T5), and MK-MVR a push agency whose webhook
 * refuses connections (one attempt: undeliverable at once).
 */
export async function startServe (t: Teardown, env: Record<string, string> = {}): Promise<Served> {
  const dead = await freePort()
  const directoryPath = writeDirectory(t, { 'MK-MVR': { webhook: `http://127.0.0.1:${dead}/hook`, maxAttempts: 1 } })
  const databaseUrl = await createTestDatabase(t)
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const queuePrefix = `leixtest-${randomUUID().slice(0, 8)}`
  const settings: Record<string, string> = {
    DATABASE_URL: databaseUrl, LEIX_MIGRATE_DATABASE_URL: databaseUrlAs(databaseUrl, 'owner'), REDIS_URL, LEIX_QUEUE_PREFIX: queuePrefix,
    LEIX_DIRECTORY: directoryPath, LEIX_DEV_KEYS: 'true', LEIX_ALLOW_LOOPBACK_HTTP: 'true', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn',
    LEIX_METRICS_PORT: '0', LEIX_CHECKPOINT_INTERVAL_MS: '200', LEIX_RECONCILE_INTERVAL_MS: '300', LEIX_DELIVERY_BACKOFF_MS: '50',
    LEIX_DEADLINE_WARNINGS: '9999d', LEIX_NON_DELIVERY_SECONDS: '2', LEIX_SUPERVISORS: `${SUPERVISOR.agency}/${SUPERVISOR.sub}`,
    ...env,
  }
  const serve = spawnLeix('serve', settings)
  // The process first, then its queue keys in the shared Redis (a stopped leix writes none again).
  t.teardown(async () => {
    await kill(serve, 'SIGTERM')
    await dropKeys(REDIS_URL, queuePrefix)
  })
  // Generous: start-up on a loaded test machine, not a measure of speed.
  await waitRunning(serve, origin, 120_000)

  const config = loadConfig({ ...process.env, ...settings })
  const keys = loadTokenKeys(config)
  const issuer = createPrivateKey(keys.privatePem ?? '')
  return {
    serve,
    origin,
    async token (agency, roles, sub = `${agency.toLowerCase()}-${roles.join('-')}`) {
      return await new jose.SignJWT({ agency, roles })
        .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: keys.kid })
        .setSubject(sub).setIssuer(config.tokenIssuer).setAudience(config.tokenAudience)
        .setIssuedAt().setExpirationTime('1h')
        .sign(issuer)
    },
    async send (from, to, patch = {}) {
      const jws = await sign(requestMessage(systemClock, { from, to }, patch))
      const res = await fetch(`${origin}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/jose' }, body: jws })
      if (res.status !== 202) throw new Error(`intake answered ${res.status}: ${await res.text()}`)
      return await res.json() as { exchangeId: string; messageId: string; status: string }
    },
    async get (path, token) {
      const res = await fetch(`${origin}${path}`, { headers: { authorization: `Bearer ${token}` } })
      if (!res.ok) throw new Error(`GET ${path} answered ${res.status}: ${await res.text()}`)
      return await res.json()
    },
  }
}

export interface Browsing {
  browser: Browser
  context: BrowserContext
  page: Page
  /** CSP refusals and script errors the page logged, and any request off the gateway's origin. */
  problems: string[]
  shot(name: string): Promise<void>
  signInAs(token: string): Promise<void>
  /** Goes to a view (#/..., as location.hash will say it) and waits until the console has drawn it. */
  open(hash: string): Promise<void>
}

/** One Chromium for the file, one page reused by its tests; screenshots under test-results/console/<dir>/. */
export async function startBrowser (t: Teardown, origin: string, dir: string): Promise<Browsing> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  t.teardown(async () => await browser.close())
  const context = await browser.newContext({ locale: 'en-GB', timezoneId: 'Europe/Belgrade' })
  const page = await context.newPage()
  const problems: string[] = []
  page.on('console', (m: ConsoleMessage) => { if (m.type() === 'error') problems.push(`console: ${m.text()} (${m.location().url})`) })
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  page.on('request', (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith('blob:')) problems.push(`third-party request: ${r.url()}`) })
  const shots = new URL(`../../test-results/console/${dir}/`, import.meta.url)
  mkdirSync(shots, { recursive: true })
  return {
    browser,
    context,
    page,
    problems,
    async shot (name) { await page.screenshot({ path: new URL(`${name}.png`, shots).pathname, fullPage: true }) },
    async signInAs (token) {
      await page.goto(`${origin}/console/`)
      await page.evaluate(() => sessionStorage.clear())
      await page.reload()
      await page.locator('#token').fill(token)
      await page.locator('form button[type="submit"]').click()
      await page.waitForFunction(() => document.body.dataset.rendered === '#/exchanges')
    },
    async open (hash) {
      await page.goto(`${origin}/console/${hash}`)
      await page.waitForFunction((h) => document.body.dataset.rendered === h, hash)
    },
  }
}

export const chromiumMissing = (): string | undefined => existsSync(CHROMIUM)
  ? undefined
  : `${CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium; .ci/run does it) to run the console's browser tests`

export { waitUntil }
