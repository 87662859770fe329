// `node --import ./bin/register.js file.ts`: run TypeScript (benchmarks, scripts) through tsx.
import { register } from 'tsx/esm/api'
register()
