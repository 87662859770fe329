// Key lifecycle without restarts: broker key rotation (old receipts keep verifying, new ones use
// the new kid), agency key revocation, and directory reload through the admin call and the SIGHUP
// handler (called in-process), each recorded in the audit log.
import t from 'tap'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as jose from 'jose'
import { verifyReceipt } from '../../src/intake/receipt.ts'
import { sighupHandler } from '../../src/directory/reload.ts'
import { ROOT, type Teardown, agencyKey, buildTestApp, count, requestMessage, sign, submit, tokenFor } from '../helpers.ts'
import { leix } from '../cli/run.ts'

/** A broker key file and a directory file of the test's own, copied from the development ones. */
function files (t: Teardown): { dir: string; keyPath: string; directoryPath: string } {
  const dir = mkdtempSync(join(tmpdir(), 'leix-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const keyPath = join(dir, 'broker-keyring.json')
  const directoryPath = join(dir, 'directory.json')
  copyFileSync(new URL('config/dev/broker.DEV-ONLY.private.jwk.json', ROOT), keyPath)
  copyFileSync(new URL('config/directory.sample.json', ROOT), directoryPath)
  return { dir, keyPath, directoryPath }
}

interface DirectoryDoc { agencies: { id: string; jwks: { keys: Record<string, unknown>[] } }[] }

t.test('rotation: a receipt signed before verifies after; JWKS lists both keys; new receipts use the new kid', async (t) => {
  const f = files(t)
  const { app, rt, clock } = await buildTestApp(t, { config: { brokerKeyPath: f.keyPath, directoryPath: f.directoryPath } })
  const oldKid = rt.brokerKey.kid
  const before = await submit(app, await sign(requestMessage(clock)))
  t.equal(before.statusCode, 202, before.body)
  const oldReceipt = before.json().receipt as string

  const rotated = await leix(['keys', 'rotate', '--key', f.keyPath, '--kid', 'broker-test-next'])
  t.equal(rotated.code, 0, rotated.stderr)
  t.match(rotated.stdout, /active broker key broker-test-next; retired/)
  const ring = JSON.parse(readFileSync(f.keyPath, 'utf8'))
  t.equal(ring.active, 'broker-test-next')
  t.equal(ring.keys.length, 2)

  const reload = await app.inject({ method: 'POST', url: '/v1/admin/directory/reload', headers: { authorization: `Bearer ${tokenFor(app, 'AL-ASP', ['admin'])}` } })
  t.equal(reload.statusCode, 200, reload.body)
  t.same(reload.json().brokerKey, { previousKid: oldKid, activeKid: 'broker-test-next', rotated: true })

  const jwks = (await app.inject({ url: '/.well-known/jwks.json' })).json() as { keys: (jose.JWK & Record<string, string>)[] }
  t.same(jwks.keys.map((k) => k.kid), ['broker-test-next', oldKid], 'the active key first, the retired one kept')
  t.ok(jwks.keys[0]?.['leix:validFrom'], 'the active key says since when')
  t.ok(jwks.keys[1]?.['leix:validUntil'], 'the retired key says until when')
  t.notOk(jwks.keys.some((k) => 'd' in k), 'no private member published')

  const old = await verifyReceipt(oldReceipt, jwks)
  t.equal(old.status, 'accepted')
  const jwksFile = join(f.dir, 'jwks.json')
  writeFileSync(jwksFile, JSON.stringify(jwks))
  const cli = await leix(['receipt', 'verify', oldReceipt, '--jwks', jwksFile])
  t.equal(cli.code, 0, cli.stderr)

  const after = await submit(app, await sign(requestMessage(clock)))
  t.equal(after.statusCode, 202, after.body)
  const newReceipt = after.json().receipt as string
  t.equal(jose.decodeProtectedHeader(newReceipt).kid, 'broker-test-next', 'the retired key signs no new receipt')
  await verifyReceipt(newReceipt, jwks)
  await t.rejects(verifyReceipt(newReceipt, { keys: [jwks.keys[1] as jose.JWK] }), 'the old key alone does not verify a new receipt')

  t.equal(await count(rt, "SELECT count(*) FROM audit_events WHERE type = 'broker-key.rotated' AND event -> 'details' ->> 'activeKid' = 'broker-test-next'"), 1)
  t.equal(await count(rt, "SELECT count(*) FROM audit_events WHERE type = 'directory.changed'"), 1)
})

t.test('a revoked agency key refuses new messages (key-not-valid, S1); the directory reloads through the SIGHUP handler', async (t) => {
  const f = files(t)
  const { app, rt, clock } = await buildTestApp(t, { config: { brokerKeyPath: f.keyPath, directoryPath: f.directoryPath } })
  const first = await submit(app, await sign(requestMessage(clock)))
  t.equal(first.statusCode, 202, first.body)
  const oldReceipt = first.json().receipt as string

  const kid = agencyKey('AL-ASP').kid
  const doc = JSON.parse(readFileSync(f.directoryPath, 'utf8')) as DirectoryDoc
  const key = doc.agencies.find((a) => a.id === 'AL-ASP')?.jwks.keys.find((k) => k.kid === kid)
  if (!key) throw new Error('AL-ASP has no development key')
  key['leix:revokedAt'] = new Date(clock.now().getTime() - 1000).toISOString()
  writeFileSync(f.directoryPath, JSON.stringify(doc))

  const logged: string[] = []
  const log = { info: (_o: object, msg: string) => { logged.push(msg) }, error: (_o: object, msg: string) => { logged.push(msg) } }
  const result = await sighupHandler(rt, log)()
  t.ok(result, 'reloaded')
  t.same(result?.changed.keysRevoked, [kid])
  t.match(result?.digest, /^[A-Za-z0-9_-]{43}$/)

  const refused = await submit(app, await sign(requestMessage(clock)))
  t.equal(refused.statusCode, 401)
  t.equal(refused.json().type, 'urn:leix:problem:key-not-valid')
  t.ok(refused.json().violations.some((v: { rule: string }) => v.rule === 'S1'), refused.body)
  t.match(refused.json().detail, /revoked/)

  const jwks = (await app.inject({ url: '/.well-known/jwks.json' })).json() as jose.JSONWebKeySet
  t.equal((await verifyReceipt(oldReceipt, jwks)).status, 'accepted', 'the receipt issued before the revocation still verifies')
  // Another agency's key is untouched.
  t.equal((await submit(app, await sign(requestMessage(clock, { from: 'RS-MUP', to: 'AL-ASP' })))).statusCode, 202)

  const events = await rt.pool.query<{ event: { digest: string; details: Record<string, string> } }>("SELECT event FROM audit_events WHERE type = 'directory.changed'")
  t.equal(events.rows.length, 1)
  t.equal(events.rows[0]?.event.digest, result?.digest)
  t.equal(events.rows[0]?.event.details.keysRevoked, kid)

  // An invalid file through SIGHUP: logged, refused, the loaded directory stays.
  writeFileSync(f.directoryPath, '{"agencies": "not a list"}')
  t.equal(await sighupHandler(rt, log)(), undefined)
  t.match(logged.at(-1), /reload refused/)
  t.equal((await submit(app, await sign(requestMessage(clock, { from: 'RS-MUP', to: 'AL-ASP' })))).statusCode, 202, 'the old directory is still in force')
})

t.test('directory reload by the admin call: valid, invalid (refused with the reason, the old one stays), and only for admins', async (t) => {
  const f = files(t)
  const { app, rt } = await buildTestApp(t, { config: { brokerKeyPath: f.keyPath, directoryPath: f.directoryPath } })
  const admin = { authorization: `Bearer ${tokenFor(app, 'AL-ASP', ['admin'])}` }
  const agencies = async () => (await app.inject({ url: '/v1/agencies' })).json().agencies.length as number
  const n = await agencies()

  const doc = JSON.parse(readFileSync(f.directoryPath, 'utf8')) as DirectoryDoc
  // An agency no instrument names as its hub or contact point (L1: those must stay in the directory).
  const removed = doc.agencies.splice(doc.agencies.findIndex((a) => a.id === 'IT-SCIP'), 1)[0]
  writeFileSync(f.directoryPath, JSON.stringify(doc))
  const ok = await app.inject({ method: 'POST', url: '/v1/admin/directory/reload', headers: admin })
  t.equal(ok.statusCode, 200, ok.body)
  t.same(ok.json().changed.agenciesRemoved, [removed?.id])
  t.equal(ok.json().brokerKey.rotated, false)
  t.equal(await agencies(), n - 1)

  writeFileSync(f.directoryPath, JSON.stringify({ ...doc, agencies: [...doc.agencies, doc.agencies[0]] }))
  const bad = await app.inject({ method: 'POST', url: '/v1/admin/directory/reload', headers: admin })
  t.equal(bad.statusCode, 422)
  t.equal(bad.json().type, 'urn:leix:problem:directory-invalid')
  t.match(bad.json().detail, /duplicate agency/)
  t.equal(await agencies(), n - 1, 'the loaded directory stays')

  const officer = await app.inject({ method: 'POST', url: '/v1/admin/directory/reload', headers: { authorization: `Bearer ${tokenFor(app, 'AL-ASP', ['officer'])}` } })
  t.equal(officer.statusCode, 403)
  t.equal((await app.inject({ method: 'POST', url: '/v1/admin/directory/reload' })).statusCode, 401)

  const events = await rt.pool.query<{ event: { actor: { kind: string; agency: string } } }>("SELECT event FROM audit_events WHERE type = 'directory.changed'")
  t.equal(events.rows.length, 1, 'only the applied reload is recorded')
  t.same(events.rows[0]?.event.actor.kind, 'person')
})
