// The console's files as the gateway serves them: types, caching, the CSP, nothing outside the
// allow-list, and no inline script or style that the CSP would refuse.
import { readdirSync, readFileSync } from 'node:fs'
import t from 'tap'
import { buildTestApp } from '../helpers.ts'

const STATIC = new URL('../../src/console/static/', import.meta.url)

t.test('served at /console', async (t) => {
  const { app } = await buildTestApp(t)
  const root = await app.inject({ method: 'GET', url: '/console' })
  t.equal(root.statusCode, 302)
  t.equal(root.headers.location, '/console/')

  const page = await app.inject({ method: 'GET', url: '/console/' })
  t.equal(page.statusCode, 200)
  t.equal(page.headers['content-type'], 'text/html; charset=utf-8')
  t.equal(page.headers['cache-control'], 'no-cache', 'revalidated, so an upgrade shows at the next load')
  t.match(String(page.headers['content-security-policy']), /script-src 'self'/, "helmet's CSP applies")
  t.equal(page.headers['x-content-type-options'], 'nosniff')

  for (const [url, type] of [['/console/app.js', 'text/javascript'], ['/console/console.css', 'text/css'], ['/console/i18n/sr-Cyrl.json', 'application/json']]) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 200, url)
    t.match(String(res.headers['content-type']), type, `${url} is ${type}`)
  }
  const etag = String(page.headers.etag)
  const again = await app.inject({ method: 'GET', url: '/console/', headers: { 'if-none-match': etag } })
  t.equal(again.statusCode, 304, 'an unchanged file is not sent again')

  for (const url of ['/console/nope.js', '/console/../package.json', '/console/%2e%2e/package.json', '/console/i18n/../../../package.json']) {
    const res = await app.inject({ method: 'GET', url })
    t.not(res.statusCode, 200, `${url} is not served`)
  }
})

t.test('no inline script or style, no third-party address', async (t) => {
  const files = readdirSync(STATIC, { recursive: true }).map(String).filter((f) => /\.(html|js|css)$/.test(f))
  for (const file of files) {
    const text = readFileSync(new URL(file, STATIC), 'utf8')
    t.notMatch(text, /<script(?![^>]*\bsrc=)[^>]*>/, `${file}: no inline script`)
    t.notMatch(text, /\sstyle=|<style|\son[a-z]+=/i, `${file}: no inline style or handler`)
    // The SVG namespace is a name, not an address: the browser fetches nothing from it.
    t.notMatch(text.replaceAll("'http://www.w3.org/2000/svg'", ''), /https?:\/\//, `${file}: no absolute address`)
    t.notMatch(text, /\beval\(|new Function\(|innerHTML/, `${file}: no eval, no HTML parsing`)
  }
})
