import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'

/**
 * The console's files: plain ES modules, CSS and JSON, served as they are (no build step). tsc
 * copies no assets, so the compiled build (dist/) reads them from src/console/static too.
 */
export const CONSOLE_DIR = [new URL('../../console/static/', import.meta.url), new URL('../../../src/console/static/', import.meta.url)]
  .map((u) => fileURLToPath(u)).find((dir) => existsSync(join(dir, 'index.html'))) ?? fileURLToPath(new URL('../../console/static/', import.meta.url))

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
}

interface Asset { body: Buffer; type: string; etag: string }

/** Every file under `dir` with a known type, by its path relative to `dir` ('/'-separated). */
function loadAssets (dir: string, prefix = ''): Map<string, Asset> {
  const assets = new Map<string, Asset>()
  for (const name of readdirSync(dir)) {
    const full = join(dir, name)
    if (statSync(full).isDirectory()) {
      for (const [k, v] of loadAssets(full, `${prefix}${name}/`)) assets.set(k, v)
      continue
    }
    const type = TYPES[name.slice(name.lastIndexOf('.'))]
    if (!type) continue
    const body = readFileSync(full)
    assets.set(`${prefix}${name}`, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` })
  }
  return assets
}

/**
 * `GET /console` and its assets. Public files only: every piece of data comes from the public
 * API with the user's own bearer token. The files are read once at start-up into a fixed
 * allow-list (no path from the URL ever reaches the file system), and revalidated by ETag
 * (`no-cache`) so that an upgrade of leix is picked up at the next load.
 */
export async function consoleRoutes (app: FastifyInstance, opts: { dir?: string } = {}): Promise<void> {
  const dir = opts.dir ?? CONSOLE_DIR
  // A deployment without the files still serves the API; /console then answers 404.
  const assets = existsSync(dir) ? loadAssets(dir) : new Map<string, Asset>()
  if (assets.size === 0) app.log.warn({ dir }, 'the console\'s files are missing: /console is not served')
  const send = (path: string) => async (request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
    const asset = assets.get(path)
    if (!asset) return await reply.callNotFound()
    reply.header('cache-control', 'no-cache').header('etag', asset.etag).header('x-content-type-options', 'nosniff')
    if (request.headers['if-none-match'] === asset.etag) return await reply.code(304).send()
    return await reply.type(asset.type).send(asset.body)
  }
  app.get('/console', { schema: { hide: true } }, async (_request, reply) => await reply.redirect('/console/'))
  app.get('/console/', { schema: { hide: true } }, send('index.html'))
  app.get<{ Params: { '*': string } }>('/console/*', { schema: { hide: true } }, async (request, reply) => await send(request.params['*'])(request, reply))
}
