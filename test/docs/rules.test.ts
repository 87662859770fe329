// The project documents its own rules: every rule id the code can emit has a section in
// docs/rules.md, every relative link of README.md and docs/*.md reaches an existing file and
// heading, and the exchange state diagram of docs/architecture.md is the one state.ts describes.
import t from 'tap'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { exchangeStateDiagram } from './state-diagram.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8')

function sources (dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name)
    return statSync(join(ROOT, path)).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : []
  })
}

/**
 * Rule ids the code can emit: the `RuleId` type of the policy (every violation and hold cites one
 * of them), and any id written as a violation's `rule` or an audit event's `reason` anywhere in src/.
 */
function emittedRuleIds (): Map<string, string> {
  const ids = new Map<string, string>()
  const union = /export type RuleId =([^;]*?)\n\n/s.exec(read('src/policy/types.ts'))
  for (const [, id] of union![1]!.matchAll(/'([A-Z]\d)'/g)) ids.set(id!, 'src/policy/types.ts RuleId')
  for (const file of sources('src')) {
    for (const [, id] of read(file).matchAll(/\b(?:rule|reason): '([A-Z]\d)'/g)) if (!ids.has(id!)) ids.set(id!, file)
  }
  return ids
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, repeats numbered. */
function anchors (markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  const text = markdown.replace(/^```[\s\S]*?^```/gm, '')
  for (const [, heading] of text.matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = heading!.trim().toLowerCase().replace(/[^\p{L}\p{N}\- _]/gu, '').replace(/ /g, '-')
    const n = seen.get(slug) ?? 0
    seen.set(slug, n + 1)
    out.add(n === 0 ? slug : `${slug}-${n}`)
  }
  for (const [, id] of text.matchAll(/<a (?:id|name)="([^"]+)"/g)) out.add(id!)
  return out
}

const DOCUMENTS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]

t.test('every rule id the code can emit has a section in docs/rules.md', async (t) => {
  const rules = read('docs/rules.md')
  const ids = emittedRuleIds()
  t.ok(ids.size >= 20, `${ids.size} rule ids found`)
  for (const [id, where] of ids) t.match(rules, new RegExp(`^### ${id}: `, 'm'), `${id} (from ${where}) is documented`)
})

t.test('every relative link of README.md and docs/*.md reaches a file and a heading', async (t) => {
  for (const doc of DOCUMENTS) {
    const text = read(doc).replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, (code) => code.includes('](') ? code : '')
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target!)) continue // https:, mailto:
      const [path, anchor] = target!.split('#') as [string, string | undefined]
      const file = path === '' ? join(ROOT, doc) : resolve(dirname(join(ROOT, doc)), path)
      const name = `${doc} -> ${target}`
      if (!t.ok(existsSync(file), `${name}: ${relative(ROOT, file)} exists`)) continue
      if (anchor !== undefined) {
        t.ok(file.endsWith('.md') && anchors(readFileSync(file, 'utf8')).has(anchor), `${name}: #${anchor} is a heading of ${relative(ROOT, file)}`)
      }
    }
  }
})

t.test('README links the rules, the architecture and the problem codes', async (t) => {
  const readme = read('README.md')
  for (const doc of ['docs/rules.md', 'docs/architecture.md', 'docs/problems.md']) t.match(readme, `](${doc}`, doc)
})

t.test("the exchange state diagram is the one src/exchanges/state.ts's TRANSITIONS describe", async (t) => {
  const block = /```mermaid\n([\s\S]*?)\n```/.exec(read('docs/architecture.md'))?.[1]
  t.equal(block, exchangeStateDiagram(), 'docs/architecture.md: replace the mermaid block with exchangeStateDiagram() of test/docs/state-diagram.ts')
})
