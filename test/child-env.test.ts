// Every Node process (or shell, which may start one) a test, a benchmark or a script starts gets its
// environment from childEnv() or NO_COVERAGE (scripts/chaos/services.ts), which turn off tap's
// coverage collection in the child: tap's hook adds its variables to any child's environment that
// does not set them. A child runs
// the sources through tsx, the test runner through its own loader; were the child's coverage
// recorded, c8 would merge two transpilations of one file by byte offset, and a whole run's report
// would cover a fragment of the files (or none) and fail the bar in .taprc for no fault of the code.
// The walk reads calls with the TypeScript parser: spawn/execFile/fork of process.execPath, node,
// npm, npx or a shell must pass an `env`, and the file must build it with childEnv or NO_COVERAGE.
import t from 'tap'
import { execFile } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import ts from 'typescript'
import { childEnv } from '../scripts/chaos/services.ts'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const SPAWNERS = new Set(['spawn', 'spawnSync', 'execFile', 'execFileSync', 'fork'])
const RUNS_NODE = new Set(['process.execPath', "'node'", "'npm'", "'npx'", "'sh'", "'bash'"])

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name)
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sourceFiles(path)
    return /\.[cm]?[jt]s$/.test(e.name) && !e.name.endsWith('.d.ts') ? [path] : []
  })
}

interface NodeSpawn { file: string; line: number; hasEnv: boolean }

function nodeSpawns (file: string): { spawns: NodeSpawn[]; usesChildEnv: boolean } {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true)
  const spawns: NodeSpawn[] = []
  let usesChildEnv = false
  // Names bound to a spawner: `const run = promisify(execFile)`.
  const aliases = new Set<string>()
  const collect = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer && ts.isCallExpression(node.initializer) &&
      node.initializer.arguments.some((a) => ts.isIdentifier(a) && SPAWNERS.has(a.text))) aliases.add(node.name.text)
    ts.forEachChild(node, collect)
  }
  collect(source)
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) && (node.text === 'childEnv' || node.text === 'NO_COVERAGE')) usesChildEnv = true
    if (ts.isCallExpression(node)) {
      const callee = node.expression
      const name = ts.isIdentifier(callee) ? callee.text : ts.isPropertyAccessExpression(callee) ? callee.name.text : ''
      // promisify(execFile)(process.execPath, ...) calls the result of promisify(execFile).
      const wrapped = ts.isCallExpression(callee) && callee.arguments.some((a) => ts.isIdentifier(a) && SPAWNERS.has(a.text))
      const [command, ...rest] = node.arguments
      if ((SPAWNERS.has(name) || aliases.has(name) || wrapped) && command !== undefined && RUNS_NODE.has(command.getText(source).replaceAll('"', "'"))) {
        const options = rest.find((a) => ts.isObjectLiteralExpression(a)) as ts.ObjectLiteralExpression | undefined
        const hasEnv = options?.properties.some((p) => (ts.isPropertyAssignment(p) || ts.isShorthandPropertyAssignment(p)) && p.name.getText(source) === 'env') ?? false
        spawns.push({ file, line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1, hasEnv })
      }
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return { spawns, usesChildEnv }
}

const walked = ['test', 'bench', 'scripts', 'bin'].flatMap((dir) => sourceFiles(join(ROOT, dir))).map((file) => ({ file, ...nodeSpawns(file) }))

t.test('the walk finds the processes the suite starts (the check below is not vacuous)', async (t) => {
  const spawning = walked.filter((w) => w.spawns.length > 0).map((w) => relative(ROOT, w.file))
  for (const expected of ['scripts/chaos/services.ts', 'test/delivery/helpers.ts', 'test/cli/cli.test.ts', 'test/store/passwords.test.ts', 'bench/intake.ts', 'bench/delivery.ts', 'test/client/readme.test.ts']) {
    t.ok(spawning.includes(expected), `${expected} starts a Node process`)
  }
})

t.test('every Node process or shell started by a test, a bench or a script gets its environment from childEnv', async (t) => {
  for (const { spawns, usesChildEnv } of walked) {
    for (const s of spawns) {
      const where = `${relative(ROOT, s.file)}:${s.line}`
      t.ok(s.hasEnv, `${where}: passes an env (an inherited one carries tap's coverage hook)`)
      t.ok(usesChildEnv, `${where}: the file builds that env with childEnv() or NO_COVERAGE`)
    }
  }
})

t.test('childEnv turns coverage off in the child, keeps the rest, and lets the caller add', async (t) => {
  const env = childEnv({ LEIX_X: 'y' })
  t.equal(env._TAPJS_PROCESSINFO_COVERAGE_, '0')
  t.equal(env.NODE_V8_COVERAGE, undefined)
  t.equal(env.LEIX_X, 'y')
  t.equal(env.PATH, process.env.PATH)
  // What the child itself sees: tap's hook (in NODE_OPTIONS under tap) reads this variable as it loads.
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', 'process.stdout.write(String(process.env._TAPJS_PROCESSINFO_COVERAGE_))'], { env: childEnv() })
  t.equal(stdout, '0')
})
