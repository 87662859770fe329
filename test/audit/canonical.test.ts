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
]

t.test('isCanonicalParsed answers as isCanonical', async (t) => {
  for (const text of cases) {
    t.equal(isCanonicalParsed(text, JSON.parse(text)), isCanonical(text), text)
  }
  // A raw lone surrogate in a JS string: never canonical (RFC 8785 refuses it).
  const lone = '{"a":"\ud800"}'
  t.equal(isCanonicalParsed(lone, JSON.parse(lone)), false)
  t.equal(isCanonicalParsed(canonicalString({ 10: 1, 9: 2, b: [1] }), { 10: 1, 9: 2, b: [1] }), true)
})
