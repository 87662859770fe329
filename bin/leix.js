#!/usr/bin/env node
// The `leix` command. Runs the compiled build when LEIX_DIST=1 (the container image), and the
// TypeScript sources through tsx otherwise, so a fresh checkout needs no build step.
let cli
if (process.env.LEIX_DIST === '1') {
  cli = await import('../dist/cli/main.js')
} else {
  const { register } = await import('tsx/esm/api')
  register()
  cli = await import('../src/cli/main.ts')
}
process.exitCode = await cli.main(process.argv.slice(2))
