// Every language file of the console has exactly the keys of the English one, each a non-empty
// text with the same {placeholders}.
import { readdirSync, readFileSync } from 'node:fs'
import t from 'tap'

const DIR = new URL('../../src/console/static/i18n/', import.meta.url)
const LANGUAGES = ['en', 'sq', 'sr-Latn', 'sr-Cyrl', 'mk', 'bs', 'hr', 'cnr']
const load = (lang: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(`${lang}.json`, DIR), 'utf8')) as Record<string, unknown>
const placeholders = (text: string): string[] => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '').sort()

t.same(readdirSync(DIR).sort(), LANGUAGES.map((l) => `${l}.json`).sort(), 'one message file per language, no other')
const english = load('en')
for (const lang of LANGUAGES) {
  t.test(lang, async (t) => {
    const messages = load(lang)
    const missing = Object.keys(english).filter((k) => !(k in messages))
    const extra = Object.keys(messages).filter((k) => !(k in english))
    t.same(missing, [], 'no key missing')
    t.same(extra, [], 'no key unknown to English')
    for (const [key, text] of Object.entries(messages)) {
      if (typeof text !== 'string' || text.trim() === '') t.fail(`${key} is empty`)
      else if (placeholders(text).join() !== placeholders(String(english[key])).join()) t.fail(`${key} has other placeholders than English`)
    }
    t.match(String(messages['country.XK']), /\*$/, 'Kosovo is written with the asterisk')
    t.match(String(messages['footnote.kosovo']), /^\*.*1244\/1999/, 'and its footnote')
  })
}
