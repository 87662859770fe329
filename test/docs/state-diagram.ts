// The exchange state diagram of docs/architecture.md, generated from the one state machine
// (src/exchanges/state.ts TRANSITIONS), so that the picture cannot drift from the code.
import { TRANSITIONS } from '../../src/exchanges/state.ts'

/** A mermaid `stateDiagram-v2`: the two ways an exchange opens, then one edge per (from, event). */
export function exchangeStateDiagram (): string {
  const lines = [
    'stateDiagram-v2',
    '  [*] --> accepted: request or spontaneous accepted',
    '  [*] --> held: accepted, held for review (D3-D5)',
  ]
  for (const [event, { from, to }] of Object.entries(TRANSITIONS)) {
    for (const state of from) lines.push(`  ${state} --> ${to}: ${event}`)
  }
  lines.push('  closed --> [*]')
  return lines.join('\n')
}
