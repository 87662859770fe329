// Lint and format in one tool: neostandard (the style fastify core and fastify/demo use), with
// TypeScript support. `npm run lint` checks, `npm run lint:fix` rewrites what can be fixed.
// Type checking stays with tsc (`npm run typecheck`); nothing here needs type information.
import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    noJsx: true,
    env: ['node'],
    // src, test, bench, scripts, bin and this file; config/ and schemas/ hold only JSON.
    ignores: ['node_modules/**', 'dist/**', 'coverage/**', '.tap/**'],
  }),
  {
    name: 'leix/deliberate-style',
    rules: {
      // The code wraps long object literals by grouping related properties on a line (runtime
      // config, log fields, test cases). One property per line would add about 3,700 lines without
      // making anything clearer; the other neostandard layout rules still apply to those objects.
      '@stylistic/object-property-newline': 'off',
      // `void promise` as a statement marks a promise that is deliberately not awaited (a timer's
      // fire-and-forget flush, a server's shutdown); `void` inside an expression is still refused.
      'no-void': ['error', { allowAsStatement: true }],
    },
  },
]
