// The shape of the code, checked: the domain knows nothing of HTTP, and policy rules do no I/O.
// Imports are read with the TypeScript parser (static imports, re-exports and import() calls), so
// a comment or a string that looks like an import is not one.
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const SRC = join(ROOT, 'src')

interface Import {
  /** The specifier as written. */
  specifier: string
  /** The file it names, for a relative specifier. */
  target?: string
  /** `import type` / `export type`: erased by the compiler, it runs nothing. */
  typeOnly: boolean
}

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name)
    if (e.isDirectory()) return sourceFiles(path)
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : []
  })
}

function importsOf (file: string): Import[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true)
  const found: Import[] = []
  const add = (specifier: string, typeOnly: boolean): void => {
    found.push({ specifier, typeOnly, ...(specifier.startsWith('.') ? { target: resolve(dirname(file), specifier) } : {}) })
  }
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause
      const typeOnly = clause !== undefined && (clause.isTypeOnly || (clause.name === undefined && clause.namedBindings !== undefined &&
        ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.length > 0 &&
        clause.namedBindings.elements.every((e) => e.isTypeOnly)))
      add(node.moduleSpecifier.text, typeOnly)
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, node.isTypeOnly)
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments
      if (arg && ts.isStringLiteralLike(arg)) add(arg.text, false)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

const files = sourceFiles(SRC)
const imports = new Map(files.map((f) => [f, importsOf(f)]))
const rel = (path: string): string => relative(ROOT, path)
const inside = (path: string, dir: string): boolean => !relative(dir, path).startsWith('..')

t.test('the parser sees the imports (the checks below are not vacuous)', async (t) => {
  t.ok(files.length > 50, `${files.length} source files`)
  const app = imports.get(join(SRC, 'app.ts')) ?? []
  t.ok(app.some((i) => i.target === join(SRC, 'http', 'error-handler.ts')), 'src/app.ts imports the error handler')
})

/**
 * The composition roots may import HTTP: `src/app.ts` assembles the Fastify app from the domain's
 * services and the routes, `src/server.ts` starts it. They are the edge where HTTP meets the domain,
 * not the domain; everything else outside `src/http/` (intake, policy, exchanges, delivery, audit,
 * store, config, directory, cli) must not know HTTP exists, type imports included.
 */
const COMPOSITION_ROOTS = new Set([join(SRC, 'app.ts'), join(SRC, 'server.ts')])

t.test('nothing outside src/http/ imports from src/http/ (but the composition roots)', async (t) => {
  const HTTP = join(SRC, 'http')
  const offenders: string[] = []
  for (const [file, list] of imports) {
    if (inside(file, HTTP) || COMPOSITION_ROOTS.has(file)) continue
    for (const i of list) {
      if (i.target === undefined || !inside(i.target, HTTP)) continue
      offenders.push(`${rel(file)} imports '${i.specifier}'`)
    }
  }
  t.same(offenders, [], 'domain modules import nothing from src/http/; throw DomainError (src/errors.ts) and let http/error-handler.ts map it')
})

/** Modules that reach a network, a disk or a process; a policy rule is a pure function of (message, directory, clock). */
const IO_MODULES = [
  'pg', 'ioredis', 'bullmq', 'fastify', 'undici', 'close-with-grace',
  'fs', 'fs/promises', 'net', 'tls', 'http', 'https', 'http2', 'dgram', 'dns', 'dns/promises', 'child_process', 'worker_threads',
]
const isIo = (specifier: string): boolean => {
  const name = specifier.replace(/^node:/, '')
  return IO_MODULES.includes(name) || name.startsWith('@fastify/') || IO_MODULES.some((m) => name.startsWith(`${m}/`))
}

t.test('no module under src/policy imports anything that does I/O', async (t) => {
  const POLICY = join(SRC, 'policy')
  const offenders: string[] = []
  // A policy file may not name an I/O module at all; what it imports for its values (type imports
  // are erased and run nothing) may not reach one either, however many hops away.
  for (const [file, list] of imports) {
    if (!inside(file, POLICY)) continue
    for (const i of list) if (isIo(i.specifier)) offenders.push(`${rel(file)} imports '${i.specifier}'`)
    const seen = new Set<string>([file])
    const walk = (from: string, path: string[]): void => {
      for (const i of imports.get(from) ?? []) {
        if (i.typeOnly) continue
        if (from !== file && isIo(i.specifier)) offenders.push(`${rel(file)} reaches '${i.specifier}' through ${[...path, rel(from)].join(' -> ')}`)
        if (i.target === undefined || seen.has(i.target)) continue
        seen.add(i.target)
        walk(i.target, from === file ? [] : [...path, rel(from)])
      }
    }
    walk(file, [])
  }
  t.same(offenders, [], 'policy rules stay pure: pass what they need in, do the I/O in intake or the store')
})
