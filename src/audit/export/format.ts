// The audit export format, in one place so that the server's writer (write.ts) and the offline
// verifier (verify.ts) agree.
//
// Export = NDJSON, UTF-8, lines separated by "\n", every line RFC 8785 canonical JSON:
//   [{"end":b,"leix":"range","nodes":[{"hash":"<b64>","hi":..,"lo":..},...],"start":a,"treeSize":N}]
//       first line, only when the export does not start at seq 0 or ends before N (rangeProof output)
//   event lines, seq a..b-1 in order; each event carries seq and prev (base64 leaf hash of seq-1, null at 0)
//   {"jws":"<compact JWS>","leix":"checkpoint"}  interim: straight after the event seq = treeSize - 1
//   {"jws":"<compact JWS>","leix":"checkpoint"}  covering (the last one): treeSize N >= b
//   {"jws":"<compact JWS>","leix":"statement"}   last line: the broker-signed statement of the
//       requested range and of what the export holds (../statement.ts), covered by a checkpoint at
//       its last event (N = b). Without it, or when it disagrees with the lines, the export is
//       refused: a cut export cannot be passed off as complete.
// Checkpoints sit right after the event that completes their size, and the range proof comes
// first, so the verifier can check every root as the stream passes it instead of keeping leaves.
import { canonicalString } from '../canonical.ts'
import { hashToBase64 } from '../merkle/hash.ts'
import type { RangeNode } from '../merkle/proof.ts'

export function checkpointLine (jws: string): string {
  return canonicalString({ leix: 'checkpoint', jws })
}

export function rangeLine (start: number, end: number, treeSize: number, nodes: readonly RangeNode[]): string {
  return canonicalString({
    leix: 'range', start, end, treeSize,
    nodes: nodes.map((n) => ({ lo: n.lo, hi: n.hi, hash: hashToBase64(n.hash) }))
  })
}

/** The last line of an export: the broker-signed statement (statement.ts). */
export function statementLine (jws: string): string {
  return canonicalString({ leix: 'statement', jws })
}
