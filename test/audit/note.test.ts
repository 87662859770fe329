// C2SP signed notes, checkpoint notes, cosignatures, the tlog-witness add-checkpoint checks and
// k-of-n witness policies: pure functions, checked against the specification's own example and
// as tables over every way a statement can be wrong.
import t from 'tap'
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { hashToBase64, leafHash } from '../../src/audit/merkle/hash.ts'
import { consistencyProof, type NodeSource } from '../../src/audit/merkle/proof.ts'
import { rootFromLeafHashes } from '../../src/audit/merkle/verify.ts'
import {
  SIG_COSIGNATURE_V1, SIG_ED25519, checkpointNoteText, cosign, formatNote, formatVkey, noteKey, noteKeyId, parseNote, parseVkey, rawEd25519,
  signCheckpointNote, verifyCheckpointNote, verifyCosignature, verifyNoteSignature, type NoteKey,
} from '../../src/audit/note.ts'
import { addCheckpoint, checkWitnessPolicy, formatAddCheckpoint, parseWitnessKeys, verifyWitnessed, witnessPolicy, type WitnessState } from '../../src/audit/witness.ts'

const ed = (): KeyObject => generateKeyPairSync('ed25519').privateKey
const origin = 'leix.test/log'
const logPriv = ed()
const logKey = noteKey(origin, SIG_ED25519, rawEd25519(logPriv))

// A tree of `n` leaves held in memory, as a NodeSource for proofs.
function tree (n: number, salt = ''): { root: Buffer; src: NodeSource; rootB64: string } {
  const leaves = Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf ${i}${salt}`)))
  const src: NodeSource = async (level, index) => rootFromLeafHashes(leaves.slice(index * 2 ** level, (index + 1) * 2 ** level))
  const root = rootFromLeafHashes(leaves)
  return { root, src, rootB64: hashToBase64(root) }
}

t.test('the signed-note specification example verifies, and key ids follow SHA-256(name || 0x0A || type || key)[:4]', async (t) => {
  const vkey = parseVkey('example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k')
  t.equal(vkey.type, SIG_ED25519)
  const note = parseNote('This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n')
  t.equal(note.text, 'This is an example message.\n')
  t.ok(verifyNoteSignature(note.text, note.signatures[0]!, vkey), 'the example signature verifies with the example vkey')
  t.notOk(verifyNoteSignature('This is an example message!\n', note.signatures[0]!, vkey), 'and not over another text')
  const expected = createHash('sha256').update(Buffer.concat([Buffer.from('example.com/foo\n'), Buffer.from([0x01]), vkey.publicKey])).digest().readUInt32BE(0)
  t.equal(noteKeyId('example.com/foo', 0x01, vkey.publicKey), expected)
  t.equal(formatVkey(vkey), 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k', 'vkey round trip')
})

t.test('malformed notes and vkeys are refused, each for its reason', async (t) => {
  const good = signCheckpointNote({ origin, treeSize: 3, rootHash: tree(3).rootB64 }, logPriv)
  const notes: [string, string][] = [
    ['no blank line', good.replace('\n\n', '\n')],
    ['no final newline', good.slice(0, -1)],
    ['control character', good.replace(origin, `${origin}\t`)],
    ['not a signature line', good + 'garbage\n'],
    ['non-canonical base64', good.replace(/=\n$/, '\n')],
  ]
  for (const [name, note] of notes) t.throws(() => parseNote(note), { code: 'malformed-note' }, name)
  const vkeys: [string, string][] = [
    ['two parts', 'a+530d903a'],
    ['bad hex', 'example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k'],
    ['wrong key id', 'example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k'],
    ['other name', 'example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k'],
    ['short key', 'example.com/foo+530d903a+AekyeRrm'],
    ['unsupported type', `w+${noteKeyId('w', 0x02, Buffer.alloc(32)).toString(16).padStart(8, '0')}+${Buffer.concat([Buffer.from([2]), Buffer.alloc(32)]).toString('base64')}`],
  ]
  for (const [name, vkey] of vkeys) t.throws(() => parseVkey(vkey), { code: 'bad-key' }, name)
  t.throws(() => parseWitnessKeys(formatVkey(logKey)), /type 0x04/, 'a log (0x01) key is not a witness key')
})

t.test('checkpoint notes: the log signature is required, unknown signatures ignored, a bad known one refused', async (t) => {
  const { rootB64 } = tree(5)
  const note = signCheckpointNote({ origin, treeSize: 5, rootHash: rootB64 }, logPriv)
  t.equal(parseNote(note).text, `${origin}\n5\n${rootB64}\n`)
  const ok = verifyCheckpointNote(note, [logKey])
  t.ok(ok.ok && ok.checkpoint.treeSize === 5)
  const stranger = noteKey(origin, SIG_ED25519, rawEd25519(ed()))
  t.match(verifyCheckpointNote(note, [stranger]), { ok: false, failure: 'no-log-signature' }, 'no trusted key signed')
  const extra = formatNote(parseNote(note).text, [...parseNote(note).signatures.map((s) => s.line), cosign(parseNote(note).text, 'w.example', ed(), 1_700_000_000)])
  t.ok(verifyCheckpointNote(extra, [logKey]).ok, 'an unknown cosignature is ignored')
  const forged = note.replace(/ (\S+)\n$/, (_m, b64: string) => { const raw = Buffer.from(b64, 'base64'); raw[10] = (raw[10] ?? 0) ^ 1; return ` ${raw.toString('base64')}\n` })
  t.match(verifyCheckpointNote(forged, [logKey]), { ok: false, failure: 'bad-log-signature' })
  t.throws(() => checkpointNoteText({ origin: 'has space', treeSize: 1, rootHash: rootB64 }), { code: 'bad-checkpoint-note' })
  t.match(verifyCheckpointNote(signCheckpointNote({ origin, treeSize: 0, rootHash: rootB64 }, logPriv), [logKey]), { ok: false, failure: 'malformed' }, 'size 0 must have the empty root')
})

t.test('a cosignature is cosignature/v1 with a big-endian timestamp, key id type 0x04', async (t) => {
  const w = ed()
  const key = noteKey('witness.example/w1', SIG_COSIGNATURE_V1, rawEd25519(w))
  const text = checkpointNoteText({ origin, treeSize: 5, rootHash: tree(5).rootB64 })
  const line = cosign(text, key.name, w, 1_679_315_147)
  const sig = parseNote(`${text}\n${line}`).signatures[0]!
  t.equal(sig.keyId, key.keyId)
  t.equal(sig.signature.length, 72, '8-byte timestamp + 64-byte signature')
  t.equal(sig.signature.readBigUInt64BE(0), 1_679_315_147n)
  t.equal(verifyCosignature(text, sig, key), 1_679_315_147)
  t.equal(verifyCosignature(checkpointNoteText({ origin, treeSize: 6, rootHash: tree(6).rootB64 }), sig, key), undefined, 'not over another checkpoint')
  const retimed = Buffer.from(sig.signature)
  retimed.writeBigUInt64BE(1_679_315_148n, 0)
  t.equal(verifyCosignature(text, { ...sig, signature: retimed }, key), undefined, 'the timestamp is signed')
})

t.test('add-checkpoint follows tlog-witness: 200, 400, 403, 404, 409, 422 (with an alarm for a fork)', async (t) => {
  const w = { name: 'witness.example/w1', privateKey: ed() }
  const logs = new Map<string, NoteKey[]>([[origin, [logKey]]])
  const now = new Date('2026-01-01T00:00:00Z')
  const t5 = tree(5)
  const t8 = tree(8)
  const note = (n: number, root: string, priv = logPriv, o = origin) => signCheckpointNote({ origin: o, treeSize: n, rootHash: root }, priv)
  const at5: WitnessState = { origin, treeSize: 5, rootHash: t5.rootB64, note: note(5, t5.rootB64) }
  const proof58 = await consistencyProof(t8.src, 5, 8)
  const forkedProof = await consistencyProof(tree(8, 'x').src, 5, 8)

  const first = addCheckpoint(undefined, formatAddCheckpoint({ oldSize: 0, proof: [], note: note(5, t5.rootB64) }), logs, w, now)
  t.equal(first.status, 200, 'a new witness cosigns from 0 without a proof')
  const next = addCheckpoint(at5, formatAddCheckpoint({ oldSize: 5, proof: proof58, note: note(8, t8.rootB64) }), logs, w, now)
  t.equal(next.status, 200, 'consistent growth is cosigned')
  if (next.status === 200) {
    t.same(next.state, { origin, treeSize: 8, rootHash: t8.rootB64, note: note(8, t8.rootB64) })
    t.equal(verifyCosignature(parseNote(next.state.note).text, parseNote(`${parseNote(next.state.note).text}\n${next.cosignature}`).signatures[0]!, noteKey(w.name, SIG_COSIGNATURE_V1, rawEd25519(w.privateKey))), 1767225600)
  }
  t.equal(addCheckpoint(at5, formatAddCheckpoint({ oldSize: 5, proof: [], note: note(5, t5.rootB64) }), logs, w, now).status, 200, 'the same checkpoint again')

  const cases: [string, WitnessState | undefined, string, number, boolean?][] = [
    ['not an add-checkpoint body', at5, 'hello', 400],
    ['old size beyond the checkpoint', at5, formatAddCheckpoint({ oldSize: 9, proof: [], note: note(8, t8.rootB64) }), 400],
    ['unknown origin', at5, formatAddCheckpoint({ oldSize: 5, proof: proof58, note: note(8, t8.rootB64, logPriv, 'other.log') }), 404],
    ['not signed by the log key', at5, formatAddCheckpoint({ oldSize: 5, proof: proof58, note: note(8, t8.rootB64, ed()) }), 403],
    ['stale old size', at5, formatAddCheckpoint({ oldSize: 3, proof: [], note: note(8, t8.rootB64) }), 409],
    ['old size 0 against a witness at 5', at5, formatAddCheckpoint({ oldSize: 0, proof: [], note: note(8, t8.rootB64) }), 409],
    ['a proof from size 0', undefined, formatAddCheckpoint({ oldSize: 0, proof: proof58, note: note(8, t8.rootB64) }), 422],
    ['a rewritten history (proof does not verify)', at5, formatAddCheckpoint({ oldSize: 5, proof: forkedProof, note: note(8, tree(8, 'x').rootB64) }), 422, true],
    ['a right proof for a wrong root', at5, formatAddCheckpoint({ oldSize: 5, proof: proof58, note: note(8, tree(8, 'x').rootB64) }), 422, true],
    ['two roots for one size', at5, formatAddCheckpoint({ oldSize: 5, proof: [], note: note(5, tree(5, 'x').rootB64) }), 422, true],
  ]
  for (const [name, state, body, status, alarm] of cases) {
    const r = addCheckpoint(state, body, logs, w, now)
    t.equal(r.status, status, name)
    t.equal('alarm' in r && r.alarm === true, alarm === true, `${name}: alarm ${alarm === true}`)
    if (r.status === 409) t.equal(r.treeSize, state?.treeSize ?? 0, '409 names the size the witness cosigned')
  }
})

t.test('a k-of-n witness policy: 0, k-1, k, a forged cosignature, a wrong key, a cosignature for another root', async (t) => {
  const privs = [ed(), ed(), ed()]
  const keys = privs.map((p, i) => noteKey(`w${i}.example`, SIG_COSIGNATURE_V1, rawEd25519(p)))
  const t5 = tree(5)
  const note = signCheckpointNote({ origin, treeSize: 5, rootHash: t5.rootB64 }, logPriv)
  const { text } = parseNote(note)
  const cosigs = privs.map((p, i) => cosign(text, `w${i}.example`, p, 1_700_000_000 + i))
  const withCosigs = (lines: string[]) => formatNote(text, [parseNote(note).signatures[0]!.line, ...lines])
  const otherText = checkpointNoteText({ origin, treeSize: 5, rootHash: tree(5, 'x').rootB64 })
  const stranger = ed()
  const forged = cosigs[1]!.replace(/ (\S+)\n$/, (_m, b64: string) => { const raw = Buffer.from(b64, 'base64'); raw[20] = (raw[20] ?? 0) ^ 1; return ` ${raw.toString('base64')}\n` })
  const policy2 = witnessPolicy(keys, 2)
  const cases: [string, string, number, string | undefined][] = [
    ['threshold 0, no cosignature', withCosigs([]), 0, undefined],
    ['k-1 cosignatures', withCosigs([cosigs[0]!]), 2, 'witness-quorum'],
    ['k cosignatures', withCosigs([cosigs[0]!, cosigs[2]!]), 2, undefined],
    ['all n', withCosigs(cosigs), 3, undefined],
    ['the same witness twice counts once', withCosigs([cosigs[0]!, cosigs[0]!]), 2, 'witness-quorum'],
    ['a forged cosignature', withCosigs([cosigs[0]!, forged]), 2, 'bad-cosignature'],
    ['a cosignature by a key not in the policy (same name)', withCosigs([cosigs[0]!, cosign(text, 'w1.example', stranger, 1_700_000_000)]), 2, 'witness-quorum'],
    ['a cosignature for another root', withCosigs([cosigs[0]!, cosign(otherText, 'w1.example', privs[1]!, 1_700_000_000)]), 2, 'bad-cosignature'],
    ['no log signature', formatNote(text, cosigs), 2, 'checkpoint-note'],
  ]
  for (const [name, n, k, code] of cases) {
    const r = checkWitnessPolicy(n, [logKey], k === 2 ? policy2 : witnessPolicy(keys, k))
    if (code === undefined) t.ok(r.ok, name)
    else t.match(r, { ok: false, code }, name)
  }
  t.match(checkWitnessPolicy(withCosigs(cosigs), [logKey], policy2, { origin, treeSize: 5, rootHash: tree(5, 'x').rootB64 }), { ok: false, code: 'checkpoint-mismatch' })
  t.throws(() => witnessPolicy(keys, 4), /0 to 3/, 'k > n is a usage error')
  t.throws(() => witnessPolicy([keys[0]!, keys[0]!], 1), /twice/)
  t.throws(() => witnessPolicy([logKey], 1), /0x04/)

  // A final state held to a witnessed later checkpoint through a consistency proof.
  const t3 = tree(3)
  const t5b = await consistencyProof(t5.src, 3, 5)
  const witnessed = withCosigs(cosigs)
  const final3 = { origin, treeSize: 3, rootHash: t3.rootB64 }
  t.ok(verifyWitnessed(final3, { note: witnessed, consistency: { from: 3, path: t5b.map(hashToBase64) } }, [logKey], policy2).ok, 'final size 3 proven into witnessed size 5')
  t.match(verifyWitnessed(final3, { note: witnessed }, [logKey], policy2), { ok: false, code: 'checkpoint-mismatch' }, 'without the proof')
  t.match(verifyWitnessed({ ...final3, rootHash: tree(3, 'x').rootB64 }, { note: witnessed, consistency: { from: 3, path: t5b.map(hashToBase64) } }, [logKey], policy2), { ok: false, code: 'checkpoint-mismatch' }, 'a forked final state')
  t.match(verifyWitnessed({ origin, treeSize: 6, rootHash: tree(6).rootB64 }, { note: witnessed }, [logKey], policy2), { ok: false, code: 'checkpoint-mismatch' }, 'a final state beyond the witnessed one')
  t.match(verifyWitnessed(final3, undefined, [logKey], policy2), { ok: false, code: 'witness-quorum' }, 'a policy and no witnessed checkpoint')
  t.ok(verifyWitnessed(final3, undefined, [logKey], witnessPolicy([], 0)).ok, 'no policy, nothing to check')
})
