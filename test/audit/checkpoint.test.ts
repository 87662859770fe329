import t from 'tap'
import { CompactSign, exportJWK, generateKeyPair } from 'jose'
import { canonicalBytes, canonicalString, isCanonical } from '../../src/audit/canonical.ts'
import {
  CHECKPOINT_TYP, checkpointBody, checkpointRoot, parseCheckpointUnverified, signCheckpoint, verifyCheckpoint
} from '../../src/audit/checkpoint.ts'
import { EMPTY_ROOT, hashToBase64 } from '../../src/audit/merkle/hash.ts'
import { VerificationError } from '../../src/errors.ts'

const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1' }] }
const root = Buffer.alloc(32, 0xab)
const body = checkpointBody('https://leix.test', 42, root, new Date('2026-03-01T08:00:00Z'))

t.test('canonical JSON (RFC 8785)', async (t) => {
  t.equal(canonicalString({ b: 1, a: [true, null, 'x'], c: { z: 1e21, y: 0.1 } }), '{"a":[true,null,"x"],"b":1,"c":{"y":0.1,"z":1e+21}}')
  t.equal(Buffer.from(canonicalBytes({ é: '€' })).toString('utf8'), '{"é":"€"}')
  t.ok(isCanonical('{"a":1,"b":[1,2]}'))
  t.notOk(isCanonical('{"b":1,"a":1}'))
  t.notOk(isCanonical('{"a": 1}'))
  t.notOk(isCanonical('{"a":1.0}'))
  t.notOk(isCanonical('{"a":1,"a":1}'))
  t.notOk(isCanonical('{"a":"\\u0041"}'))
  t.notOk(isCanonical('nope'))
  t.throws(() => canonicalBytes({ a: Number.NaN }), { code: 'not-serialisable' })
  t.throws(() => canonicalBytes(undefined), { code: 'not-serialisable' })
})

t.test('sign and verify', async (t) => {
  const jws = await signCheckpoint(body, { privateKey, kid: 'k1' })
  const cp = await verifyCheckpoint(jws, jwks)
  t.same(cp, { ...body, kid: 'k1' })
  t.same(checkpointRoot(cp), root)
  t.same(parseCheckpointUnverified(jws), { header: { alg: 'EdDSA', kid: 'k1', typ: CHECKPOINT_TYP }, payload: body })
  t.equal(Buffer.from(jws.split('.')[1] as string, 'base64url').toString(), canonicalString(body), 'payload is canonical JSON')
})

t.test('refusals', async (t) => {
  const sign = async (header: Record<string, unknown>, payload: unknown, key: unknown = privateKey): Promise<string> =>
    await new CompactSign(Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)))
      .setProtectedHeader(header as { alg: string }).sign(key as CryptoKey)
  const hdr = { alg: 'EdDSA', kid: 'k1', typ: CHECKPOINT_TYP }
  const expect = async (jws: string, code: string, msg: string): Promise<void> => {
    await t.rejects(verifyCheckpoint(jws, jwks), { code }, msg)
  }
  const other = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
  await expect(await sign(hdr, body, other.privateKey), 'bad-signature', 'another key under the same kid')
  await expect(await sign({ ...hdr, kid: 'k2' }, body), 'unknown-key', 'unknown kid')
  const es = await generateKeyPair('ES256')
  await expect(await sign({ ...hdr, alg: 'ES256' }, body, es.privateKey), 'bad-algorithm', 'ES256')
  await expect(await sign({ ...hdr, typ: 'JWT' }, body), 'bad-header', 'wrong typ')
  await expect(await sign({ alg: 'EdDSA', typ: CHECKPOINT_TYP }, body), 'bad-header', 'no kid')
  await expect(await sign({ ...hdr, x5u: 'https://evil' }, body), 'bad-header', 'extra header')
  const canon = (v: unknown): string => canonicalString(v)
  await expect(await sign(hdr, canon({ ...body, treeSize: 1.5 })), 'bad-payload', 'fractional size')
  await expect(await sign(hdr, canon({ ...body, treeSize: -1 })), 'bad-payload', 'negative size')
  await expect(await sign(hdr, canon({ ...body, rootHash: hashToBase64(root).slice(1) })), 'bad-payload', 'short root')
  await expect(await sign(hdr, canon({ ...body, rootHash: Buffer.alloc(33).toString('base64') })), 'bad-payload', 'long root')
  await expect(await sign(hdr, canon({ ...body, timestamp: '2026-03-01 08:00:00' })), 'bad-payload', 'not ISO')
  await expect(await sign(hdr, canon({ ...body, timestamp: '2026-03-01T08:00:00+01:00' })), 'bad-payload', 'not UTC')
  await expect(await sign(hdr, canon({ ...body, timestamp: '2026-13-45T08:00:00Z' })), 'bad-payload', 'no such date')
  await expect(await sign(hdr, canon({ ...body, extra: 1 })), 'bad-payload', 'extra member')
  await expect(await sign(hdr, canon({ ...body, origin: '' })), 'bad-payload', 'empty origin')
  await expect(await sign(hdr, canon({ ...body, treeSize: 0 })), 'bad-payload', 'size 0 with a non-empty root')
  await expect(await sign(hdr, JSON.stringify(body, null, 2)), 'bad-payload', 'non-canonical payload')
  await expect('a.b', 'malformed', 'not compact')
  await expect('e30.e30.', 'malformed', 'empty signature')
  const empty = checkpointBody('o', 0, EMPTY_ROOT, new Date(0))
  t.same(await verifyCheckpoint(await signCheckpoint(empty, { privateKey, kid: 'k1' }), jwks), { ...empty, kid: 'k1' })
  await t.rejects(signCheckpoint({ ...body, treeSize: -3 }, { privateKey, kid: 'k1' }), VerificationError)
  t.throws(() => checkpointBody('o', 1, Buffer.alloc(31), new Date()), { code: 'bad-payload' })
  t.throws(() => parseCheckpointUnverified('x'), { code: 'malformed' })
})
