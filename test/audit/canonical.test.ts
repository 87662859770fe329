// The fast canonical-form check the export verifier uses must answer exactly as the full one.
import t from 'tap'
import { canonicalString, isCanonical, isCanonicalParsed } from '../../src/audit/canonical.ts'

const cases = [
  '{"a":1,"b":[1,2,{"c":null,"d":"x"}],"e":true}',
  '{"b":1,"a":2}', // keys out of order
  '{"a":1,"a":2}', // duplicate keys
  '{"a": 1}', // whitespace
  '{"a":1.0}', '{"a":1e3}', '{"a":-0}', '{"a":0.1}', '{"a":1e+21}', '{"a":1e21}', // number forms
  '{"10":1,"9":2}', '{"9":2,"10":1}', // integer-like keys: JavaScript orders them numerically
  '{"a":"\\u0001"}', '{"a":"\\u001F"}', '{"a":"\\u00e9"}', '{"a":"é"}', '{"a":"\\/"}', // escapes
  '{"a":"\\ud800"}', '{"a":"\\ud83d\\ude00"}', '{"a":"😀"}', // surrogates
  '{"\\u0061":1}', '{"é":1,"z":2}', '{"z":2,"é":1}', '{"a":1,"B":2}', '{"B":2,"a":1}',
  '[1,2]', '"x"', '12', 'null', '{}', '{"a":{}}', '{"a":[]}',
  // The restricted fast path's edges: long integers, colons in strings, nested duplicates.
  '{"a":123456789012345}', '{"a":1234567890123456}', '{"a":12345678901234567}', '{"a":-123456789012345}',
  '{"a":":x","b":1}', '{"a":"x\\":","b":1}', '{"a":{"b":1,"b":2}}', '[{"a":1,"a":1}]', '{"a":"x","a":"x"}',
  '{"a":{"b":1},"a":{"b":1}}', '{"":1,"a":2}', '{"a":1,"":2}', '{"a":[],"b":{}}', '{"a":[[]],"b":[{}]}',
  '{"a":true,"b":false,"c":null}', '{"a":"\\u007f"}', '{"a":"\\u2028"}', '{"a":"\u2028"}', '{"a":"\u007f"}',
]

t.test('isCanonicalParsed answers as isCanonical', async (t) => {
  for (const text of cases) {
    t.equal(isCanonicalParsed(text, JSON.parse(text)), isCanonical(text), text.replace(/\u2028/g, '<U+2028>')) // a raw U+2028 would break the TAP line
  }
  // A raw lone surrogate in a JS string: never canonical (RFC 8785 refuses it).
  const lone = '{"a":"\ud800"}'
  t.equal(isCanonicalParsed(lone, JSON.parse(lone)), false)
  t.equal(isCanonicalParsed(canonicalString({ 10: 1, 9: 2, b: [1] }), { 10: 1, 9: 2, b: [1] }), true)
})

t.test('isCanonicalParsed answers as isCanonical for random values and their re-spellings', async (t) => {
  // A small deterministic generator (no Math.random: a failure must replay).
  let state = 12345
  const next = (n: number): number => { state = (state * 1103515245 + 12345) % 2 ** 31; return state % n }
  const atoms = [0, 1, -7, 42, 123456789012345, 1.5, -0.25, 1e21, 'x', '', 'é', 'a/b', ':', '"', 'z\n', true, false, null]
  const keys = ['a', 'b', 'B', 'é', '', '1', '10', 'aa', 'z']
  const value = (depth: number): unknown => {
    const k = next(depth > 2 ? 1 : 3)
    if (k === 0) return atoms[next(atoms.length)]
    if (k === 1) return Array.from({ length: next(3) }, () => value(depth + 1))
    return Object.fromEntries(Array.from({ length: next(4) }, () => [keys[next(keys.length)], value(depth + 1)]))
  }
  const respell = (text: string): string[] => [
    text, text.replace(':', ': '), text.replace(',', ', '), text.replace('"a"', '"\\u0061"'), text.replace('é', '\\u00e9'),
    text.replace('/', '\\/'), text.replace(/(?<=[:,[])1(?=[,\]}])/, '1.0'), text.replace(/(?<=[:,[])42(?=[,\]}])/, '4.2e1'),
    text.replace(/^\{"(\w+)":/, '{"$1":0,"$1":'),
  ]
  let checked = 0
  for (let i = 0; i < 400; i++) {
    const canonical = canonicalString(value(0))
    for (const text of respell(canonical)) {
      let parsed: unknown
      try { parsed = JSON.parse(text) } catch { continue }
      if (isCanonicalParsed(text, parsed) !== isCanonical(text)) t.fail(`disagree on ${text}`)
      checked++
    }
  }
  t.ok(checked > 1000, `${checked} texts checked`)
})
