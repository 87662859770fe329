// Private PostgreSQL clusters and redis-servers for fault tests and `npm run chaos`: each on a free
// loopback port in its own temporary directory, so stopping or killing one never touches the
// shared services. PostgreSQL binaries come from /usr/lib/postgresql/<version>/bin; as root the
// cluster runs as the `postgres` user (initdb refuses root).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A TCP port free on the loopback interface right now. */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** The bin directory of the newest installed PostgreSQL, or undefined. */
export function postgresBin (): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))
  return versions[0] ? join(root, versions[0], 'bin') : undefined
}

export interface PostgresCluster {
  /** postgres://postgres@127.0.0.1:PORT/postgres (trust authentication, loopback only). */
  adminUrl: string
  port: number
  /** A URL for database `name` on this cluster. */
  urlFor(name: string): string
  start(): void
  /** Fast shutdown (terminates connections). */
  stop(): void
  /** Stops the cluster and removes its directory. */
  destroy(): void
}

/** Creates and starts a PostgreSQL cluster in a temporary directory. Throws if PostgreSQL is not installed. */
export async function startPostgresCluster (): Promise<PostgresCluster> {
  const bin = postgresBin()
  if (!bin) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql/*/bin')
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'leix-pg-'))
  const asRoot = process.getuid?.() === 0
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim())
    chownSync(dir, uid, gid)
  }
  const run = (tool: string, args: string[]): void => {
    const cmd = join(bin, tool)
    if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe', cwd: dir })
    else execFileSync(cmd, args, { stdio: 'pipe', cwd: dir })
  }
  const data = join(dir, 'data')
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync'])
  const start = (): void => run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '30', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`, 'start'])
  const stop = (): void => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop'])
  start()
  const urlFor = (name: string) => `postgres://postgres@127.0.0.1:${port}/${name}`
  return {
    adminUrl: urlFor('postgres'),
    port,
    urlFor,
    start,
    stop,
    destroy () {
      try { stop() } catch { /* already stopped */ }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export interface RedisServer {
  url: string
  port: number
  process: ChildProcess
  /** kill -9, as a crash or an OOM kill would. */
  kill9(): Promise<void>
  /** Starts it again on the same port and directory (with its AOF, if any). */
  restart(): Promise<void>
  /** Stops it and removes its directory. */
  destroy(): Promise<void>
}

/** A private redis-server (noeviction), with or without append-only persistence. */
export async function startRedisServer (opts: { aof?: boolean } = {}): Promise<RedisServer> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'leix-redis-'))
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--maxmemory-policy', 'noeviction',
    '--appendonly', opts.aof ? 'yes' : 'no', '--appendfsync', 'always']
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
    const end = Date.now() + 10_000
    while (!output.includes('Ready to accept connections')) {
      if (child.exitCode !== null || Date.now() > end) throw new Error(`redis-server did not start: ${output}`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    return child
  }
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    process: await launch(),
    async kill9 () {
      if (server.process.exitCode !== null || server.process.signalCode !== null) return
      const exited = once(server.process, 'exit')
      server.process.kill('SIGKILL')
      await exited
    },
    async restart () {
      server.process = await launch()
    },
    async destroy () {
      await server.kill9()
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return server
}

/** The `leix` command of this checkout. */
export const LEIX = new URL('../../bin/leix.js', import.meta.url).pathname

export interface LeixProcess {
  role: string
  child: ChildProcess
  /** Everything it wrote to stdout and stderr so far. */
  output(): string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  alive(): boolean
}

/** Polls `check` every 25 ms until it returns a truthy value; throws after `timeoutMs`. */
export async function waitUntil<T> (what: string, check: () => Promise<T> | T, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value as NonNullable<T>
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/**
 * This process's environment for a spawned `leix` (or any child that runs the sources), without
 * coverage collection. Under `tap` a test process's NODE_OPTIONS imports tap's process-info hook,
 * which records V8 coverage of every process that inherits it; the child transpiles the sources
 * through tsx, the test runner through its own loader, and c8 merges the two transpilations of one
 * file by byte offset into wrong figures (a whole-run report that covered a fragment of the files,
 * or none). The hook also adds its variables to the environment of any child (a shell included)
 * that does not set them itself: NO_COVERAGE sets the one that turns its coverage off in the
 * child. NODE_V8_COVERAGE (c8's own variable) goes too. What only a child does is still run and checked;
 * it is just not counted.
 */
export function childEnv (extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const { NODE_V8_COVERAGE: _coverage, ...env } = process.env
  return { ...env, ...NO_COVERAGE, ...extra }
}

/**
 * What turns tap's coverage off in a child, for an environment built from scratch: tap's hook adds
 * its own variables to every child's environment unless the environment sets them.
 */
export const NO_COVERAGE = { _TAPJS_PROCESSINFO_COVERAGE_: '0' } as const

/**
 * Spawns `leix <role>` (serve, gateway or worker) with `env` on top of this process's environment
 * (without the operations listener unless `env` asks for one: several processes share the host).
 * Resolves at once; `waitRunning` waits until it says it runs.
 */
export function spawnLeix (role: 'serve' | 'gateway' | 'worker', env: Record<string, string>): LeixProcess {
  // LEIX_BENCH_SERVER_FLAGS adds Node flags (e.g. `--cpu-prof --cpu-prof-dir=prof`), as for the intake bench's servers.
  const flags = process.env.LEIX_BENCH_SERVER_FLAGS?.split(' ').filter(Boolean) ?? []
  const child = spawn(process.execPath, [...flags, LEIX, role], { env: childEnv({ LEIX_DIST: '', LEIX_METRICS_PORT: '0', ...env }), stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  return { role, child, output: () => output, exited, alive: () => child.exitCode === null && child.signalCode === null }
}

/** Waits until a spawned process runs: a worker says so on stderr, a gateway answers /health/live. */
export async function waitRunning (p: LeixProcess, httpUrl?: string, timeoutMs = 30_000): Promise<void> {
  await waitUntil(`leix ${p.role} to run`, async () => {
    if (!p.alive()) throw new Error(`leix ${p.role} exited early: ${p.output()}`)
    if (!httpUrl) return p.output().includes('leix worker running')
    try {
      return (await fetch(`${httpUrl}/health/live`)).ok
    } catch {
      return false
    }
  }, timeoutMs)
}

/** Sends `signal` (SIGKILL by default) and waits for the exit. */
export async function kill (p: LeixProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (p.alive()) p.child.kill(signal)
  return await p.exited
}
