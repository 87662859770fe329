#!/usr/bin/env node
// The `leix` command. Production runs the compiled build (dist/, `npm run build`); development and
// the tests run the TypeScript sources through tsx, a development dependency, so a fresh checkout
// needs no build step. LEIX_DIST=1 forces the build, LEIX_DIST=0 the sources; unset, the build
// runs when NODE_ENV=production or when tsx is not installed (`npm ci --omit=dev`).
const dist = new URL('../dist/cli/main.js', import.meta.url)
const src = new URL('../src/cli/main.ts', import.meta.url)

async function load () {
  const mode = process.env.LEIX_DIST
  if (mode === '1' || (mode !== '0' && process.env.NODE_ENV === 'production')) return await import(dist.href)
  let tsx
  try {
    tsx = await import('tsx/esm/api')
  } catch (err) {
    if (mode === '0' || err?.code !== 'ERR_MODULE_NOT_FOUND') throw err
    // No development dependencies: a production install, which runs the build.
    return await import(dist.href)
  }
  tsx.register()
  return await import(src.href)
}

let cli
try {
  cli = await load()
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    process.stderr.write('leix: the compiled build is missing; run `npm run build` (or install the development dependencies to run the sources)\n')
    process.exit(2)
  }
  throw err
}
process.exitCode = await cli.main(process.argv.slice(2))
