#!/usr/bin/env node
// The `leix` command. Runs the compiled build when LEIX_DIST=1 (the container image), and the
// TypeScript sources through tsx otherwise, so a fresh checkout needs no build step.
if (process.env.LEIX_DIST === '1') {
  await import('../dist/cli/main.js')
} else {
  const { register } = await import('tsx/esm/api')
  register()
  await import('../src/cli/main.ts')
}
