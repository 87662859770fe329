// Every error a client can see, and every setting, has a line in README.md; each error's line links
// to its section in docs/problems.md (the link test in test/docs/rules.test.ts checks the anchor).
import t from 'tap'
import { readFileSync } from 'node:fs'
import { PROBLEMS } from '../src/http/problems.ts'
import { ENV_NAMES } from '../src/config/config.ts'

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

t.test('every problem code is documented with its status', async (t) => {
  for (const [code, { status }] of Object.entries(PROBLEMS)) {
    t.match(readme, new RegExp(`\\| \\[\`${code}\`\\]\\(docs/problems\\.md#${code}\\) \\| ${status} \\|`), code)
  }
})

t.test('every environment variable is documented', async (t) => {
  for (const name of Object.keys(ENV_NAMES)) t.match(readme, new RegExp(`\\| \`${name}\` \\|`), name)
})

t.test('the config schema describes every field with its variable', async (t) => {
  const schema = JSON.parse(readFileSync(new URL('../schemas/config.schema.json', import.meta.url), 'utf8'))
  for (const [name, field] of Object.entries(ENV_NAMES)) {
    t.match(schema.properties[field]?.description ?? '', new RegExp(`^${name}:`), `${field} <- ${name}`)
  }
})
